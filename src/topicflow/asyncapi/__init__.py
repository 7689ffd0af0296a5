"""AsyncAPI documentation of a topicflow app: 3.0.0 (the default) and 2.6.0.

Example::

    document = build_document(app)                  # 3.0.0, a JSON-ready dict
    text = to_yaml(build_document(app, "2.6.0"))
    page = render_html(document)                    # one self-contained HTML page

The command line does the same: ``topicflow docs gen module:app`` and
``topicflow docs serve module:app``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from topicflow.asyncapi._collect import collect
from topicflow.asyncapi._html import render_html
from topicflow.asyncapi._output import to_json, to_yaml
from topicflow.asyncapi._render import DEFAULT_VERSION, AsyncAPIVersion, render, versions
from topicflow.asyncapi._server import DocsServer

if TYPE_CHECKING:
    from topicflow.app import App

__all__ = [
    "AsyncAPIVersion",
    "DocsServer",
    "build_document",
    "render_html",
    "to_json",
    "to_yaml",
    "versions",
]


def build_document(app: App, version: AsyncAPIVersion = DEFAULT_VERSION) -> dict[str, Any]:
    """The AsyncAPI document of ``app``'s brokers, subscribers and publishers.

    Args:
        app: the service; nothing is started or connected.
        version: ``"3.0.0"`` (the default) or ``"2.6.0"``.

    Returns:
        The document as plain dicts and lists, ready for :func:`to_json` or :func:`to_yaml`.
    """
    return render(collect(app), version)
