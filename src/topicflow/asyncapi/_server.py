"""``topicflow docs serve``: the HTML page and the raw documents over HTTP.

The standard library's threaded HTTP server is enough: the documents are built
once, when the server is created, and every request only sends bytes.
"""

from __future__ import annotations

from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from topicflow.asyncapi._collect import collect
from topicflow.asyncapi._html import render_html
from topicflow.asyncapi._output import to_json, to_yaml
from topicflow.asyncapi._render import render

if TYPE_CHECKING:
    from topicflow.app import App

__all__ = ["DocsServer"]

_HTML = "text/html; charset=utf-8"
_JSON = "application/json"
_YAML = "application/yaml; charset=utf-8"


class DocsServer(ThreadingHTTPServer):
    """Serves ``/`` (the HTML page), ``/asyncapi.json`` and ``/asyncapi.yaml``
    (3.0.0), and ``/asyncapi-2.6.0.json`` and ``/asyncapi-2.6.0.yaml``.

    Args:
        app: the service to document; it is read once, here. Or a 3.0.0 document
            (as read from a file): then there are no 2.6.0 pages.
        host: the address to listen on.
        port: the port; 0 picks a free one (see :attr:`url`).
    """

    daemon_threads = True

    def __init__(
        self, app: App | dict[str, Any], host: str = "localhost", port: int = 8000
    ) -> None:
        links = [("JSON", "asyncapi.json"), ("YAML", "asyncapi.yaml")]
        if isinstance(app, dict):
            current, legacy = app, None
        else:
            info = collect(app)
            current, legacy = render(info, "3.0.0"), render(info, "2.6.0")
            links += [("2.6.0 JSON", "asyncapi-2.6.0.json"), ("2.6.0 YAML", "asyncapi-2.6.0.yaml")]
        self.pages: dict[str, tuple[str, bytes]] = {
            "/": (_HTML, render_html(current, links=tuple(links)).encode()),
            "/asyncapi.json": (_JSON, to_json(current).encode()),
            "/asyncapi.yaml": (_YAML, to_yaml(current).encode()),
        }
        if legacy is not None:
            self.pages["/asyncapi-2.6.0.json"] = (_JSON, to_json(legacy).encode())
            self.pages["/asyncapi-2.6.0.yaml"] = (_YAML, to_yaml(legacy).encode())
        self.pages["/index.html"] = self.pages["/"]
        super().__init__((host, port), _Handler)

    @property
    def url(self) -> str:
        """Where the page is served, with the port actually bound."""
        host, port = self.server_address[:2]
        shown = host.decode() if isinstance(host, bytes) else host
        if ":" in shown:
            shown = f"[{shown}]"
        return f"http://{shown}:{port}/"


class _Handler(BaseHTTPRequestHandler):
    server: DocsServer

    def do_GET(self) -> None:
        self._respond(with_body=True)

    def do_HEAD(self) -> None:
        self._respond(with_body=False)

    def _respond(self, *, with_body: bool) -> None:
        page = self.server.pages.get(self.path.split("?", 1)[0])
        if page is None:
            content_type, body = "text/plain; charset=utf-8", b"not found\n"
            self.send_response(HTTPStatus.NOT_FOUND)
        else:
            content_type, body = page
            self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if with_body:
            self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        # One line per request on stderr would drown the address printed at start.
        pass
