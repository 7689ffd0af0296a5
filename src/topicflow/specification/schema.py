"""The descriptive objects of an AsyncAPI document (also in :mod:`topicflow.specification`)."""

from __future__ import annotations

from topicflow.specification._extra import (
    Contact,
    ContactDict,
    ExternalDocs,
    ExternalDocsDict,
    License,
    LicenseDict,
    Tag,
    TagDict,
)

__all__ = [
    "Contact",
    "ContactDict",
    "ExternalDocs",
    "ExternalDocsDict",
    "License",
    "LicenseDict",
    "Tag",
    "TagDict",
]
