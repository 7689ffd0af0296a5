"""Serving beside HTTP (FastStream's ``faststream.asgi``).

An :class:`AsgiFastStream` is an App that is also an ASGI application: the ASGI
lifespan starts and stops its brokers and hooks, and HTTP requests go to its
routes::

    app = AsgiFastStream(
        broker,
        asgi_routes=[
            ("/health", make_ping_asgi(broker, timeout=5.0)),
            ("/ready", make_ready_asgi(broker)),
            ("/metrics", make_metrics_asgi(registry)),
        ],
        asyncapi_path="/docs",
    )

``topicflow run module:app --host 0.0.0.0 --port 8000`` serves it (with
``--workers`` and ``--reload`` as for any app), and so does ``uvicorn module:app``.
See docs/serving.md.
"""

from __future__ import annotations

from topicflow._asgi._http import (
    AsgiRequest,
    AsgiResponse,
    GetHandler,
    Header,
    HttpHandler,
    PostHandler,
    Query,
    Request,
    get,
    post,
)
from topicflow._asgi._routes import (
    AsyncAPIRoute,
    make_asyncapi_asgi,
    make_metrics_asgi,
    make_ping_asgi,
    make_ready_asgi,
)
from topicflow.app import AsgiFastStream

__all__ = [
    "AsgiFastStream",
    "AsgiRequest",
    "AsgiResponse",
    "AsyncAPIRoute",
    "GetHandler",
    "Header",
    "HttpHandler",
    "PostHandler",
    "Query",
    "Request",
    "get",
    "make_asyncapi_asgi",
    "make_metrics_asgi",
    "make_ping_asgi",
    "make_ready_asgi",
    "post",
]
