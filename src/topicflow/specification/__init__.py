"""Describe a service as an AsyncAPI document from code.

Example::

    from topicflow import App
    from topicflow.specification import AsyncAPI, Contact

    app = App(broker, specification=AsyncAPI(title="Billing", contact=Contact(name="Ops")))
    print(app.schema.to_specification().to_yaml())

``topicflow docs gen`` and ``topicflow docs serve`` write and show the same document.
"""

from __future__ import annotations

from topicflow.specification._document import Specification
from topicflow.specification._extra import Contact, ExternalDocs, License, Tag
from topicflow.specification.asyncapi import AsyncAPI, get_asyncapi_html

__all__ = [
    "AsyncAPI",
    "Contact",
    "ExternalDocs",
    "License",
    "Specification",
    "Tag",
    "get_asyncapi_html",
]
