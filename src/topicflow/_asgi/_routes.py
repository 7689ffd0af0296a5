"""Ready-made routes: liveness (``make_ping_asgi``), readiness (``make_ready_asgi``),
Prometheus metrics (``make_metrics_asgi``) and the AsyncAPI page (``make_asyncapi_asgi``,
``AsyncAPIRoute``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from topicflow._asgi._http import AsgiResponse, GetHandler, get, json_response

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

    from topicflow.app import App
    from topicflow.kafka.broker.broker import KafkaBroker
    from topicflow.specification import AsyncAPI

__all__ = [
    "AsyncAPIRoute",
    "asyncapi_routes",
    "make_asyncapi_asgi",
    "make_metrics_asgi",
    "make_ping_asgi",
    "make_ready_asgi",
]

_HTML = "text/html; charset=utf-8"
_JSON = "application/json"
_YAML = "application/yaml; charset=utf-8"


def _get(
    include_in_schema: bool,
    description: str | None,
    tags: Sequence[Any] | None,
    unique_id: str | None,
) -> Callable[[Callable[..., Awaitable[Any]]], GetHandler]:
    """``@get`` with a route factory's schema options."""
    return get(
        include_in_schema=include_in_schema, description=description, tags=tags, unique_id=unique_id
    )


def make_ping_asgi(
    broker: KafkaBroker,
    /,
    timeout: float | None = None,
    include_in_schema: bool = True,
    description: str | None = None,
    tags: Sequence[Any] | None = None,
    unique_id: str | None = None,
) -> GetHandler:
    """Liveness: 204 while ``broker.ping(timeout)`` answers (connected, the cluster
    reachable, no background task given up), else 500, as FastStream's."""

    @_get(include_in_schema, description, tags, unique_id)
    async def ping() -> AsgiResponse:
        return AsgiResponse(b"", 204) if await broker.ping(timeout) else AsgiResponse(b"", 500)

    return ping


def make_ready_asgi(
    *brokers: KafkaBroker,
    timeout: float | None = None,
    include_in_schema: bool = True,
    description: str | None = None,
    tags: Sequence[Any] | None = None,
    unique_id: str | None = None,
) -> GetHandler:
    """Readiness: 200 when every broker is ready (``broker.ready(timeout)``: connected,
    its cluster answering, every subscriber running and assigned its partitions, or
    legitimately idle), else 503; the JSON body names what is not ready::

        {"ready": false, "problems": ["<DefaultSubscriber ...>: ... joining its group"]}
    """
    if not brokers:
        raise ValueError("make_ready_asgi() needs the brokers to check: make_ready_asgi(broker)")

    @_get(include_in_schema, description, tags, unique_id)
    async def ready() -> AsgiResponse:
        problems: list[str] = []
        for broker in brokers:
            problems.extend((await broker.ready(timeout)).problems)
        status = 503 if problems else 200
        return json_response({"ready": not problems, "problems": problems}, status)

    return ready


def make_metrics_asgi(
    registry: Any = None,
    include_in_schema: bool = True,
    description: str | None = None,
    tags: Sequence[Any] | None = None,
    unique_id: str | None = None,
) -> GetHandler:
    """The Prometheus exposition of ``registry`` (the one given to
    ``KafkaPrometheusMiddleware``; default: prometheus_client's global registry),
    in the text format Prometheus scrapes."""
    try:
        import prometheus_client
    except ImportError:  # pragma: no cover - the extra is installed in tests
        raise ImportError(
            "make_metrics_asgi needs prometheus-client: pip install 'topicflow[prometheus]'"
        ) from None
    source = registry if registry is not None else prometheus_client.REGISTRY
    content_type = prometheus_client.CONTENT_TYPE_LATEST

    @_get(include_in_schema, description, tags, unique_id)
    async def metrics() -> AsgiResponse:
        body = prometheus_client.generate_latest(source)
        return AsgiResponse(body, 200, {"content-type": content_type})

    return metrics


class AsyncAPIRoute:
    """Where the AsyncAPI page is served (``asyncapi_path=AsyncAPIRoute("/docs")``).

    The page is topicflow's offline one (the same as ``topicflow docs serve``):
    rendered on the server, no scripts. ``asyncapi_json_path`` (default: the path
    with ``.json``) serves the 3.0.0 document, and the path with ``.yaml`` the
    YAML. FastStream's options for its script-based page (``sidebar``,
    ``asyncapi_js_url``, ...) are accepted and do not change the page;
    ``try_it_out_path`` is not served.
    """

    def __init__(
        self,
        path: str,
        description: str | None = None,
        tags: Sequence[Any] | None = None,
        unique_id: str | None = None,
        include_in_schema: bool = False,
        asyncapi_json_path: str | None = "",
        **page_options: Any,
    ) -> None:
        self.path = path
        self.description = description
        self.tags = tags
        self.unique_id = unique_id
        self.include_in_schema = include_in_schema
        base = path.rstrip("/") or ""
        self.asyncapi_json_path = f"{base}.json" if asyncapi_json_path == "" else asyncapi_json_path
        self.asyncapi_yaml_path = f"{base}.yaml" if base else "/asyncapi.yaml"
        self.page_options = page_options

    @classmethod
    def ensure_route(cls, path: str | AsyncAPIRoute) -> AsyncAPIRoute:
        return path if isinstance(path, AsyncAPIRoute) else cls(path)


class _Documents:
    """The app's documents, built on first request (subscribers declared later count)."""

    def __init__(self, source: App | AsyncAPI, links: tuple[tuple[str, str], ...]) -> None:
        self._source = source
        self._links = links
        self._pages: dict[str, bytes] | None = None

    def page(self, kind: str) -> bytes:
        if self._pages is None:
            from topicflow.asyncapi._collect import collect
            from topicflow.asyncapi._html import render_html
            from topicflow.asyncapi._output import to_json, to_yaml
            from topicflow.asyncapi._render import render

            document = render(collect(self._source), "3.0.0")
            self._pages = {
                "html": render_html(document, links=self._links).encode(),
                "json": to_json(document).encode(),
                "yaml": to_yaml(document).encode(),
            }
        return self._pages[kind]


def make_asyncapi_asgi(
    schema: App | AsyncAPI,
    description: str | None = None,
    tags: Sequence[Any] | None = None,
    unique_id: str | None = None,
    include_in_schema: bool = True,
    **page_options: Any,
) -> GetHandler:
    """The AsyncAPI HTML page of ``schema`` (an App, or its ``app.schema``)."""
    return _page_handler(
        _Documents(schema, (("JSON", "asyncapi.json"), ("YAML", "asyncapi.yaml"))),
        "html",
        include_in_schema,
        description,
        tags,
        unique_id,
    )


def asyncapi_routes(app: App, route: AsyncAPIRoute) -> list[tuple[str, GetHandler]]:
    """The page and its raw documents, as ``(path, handler)`` routes."""
    links: list[tuple[str, str]] = []
    if route.asyncapi_json_path:
        links.append(("JSON", route.asyncapi_json_path))
    links.append(("YAML", route.asyncapi_yaml_path))
    documents = _Documents(app, tuple(links))
    options = (route.include_in_schema, route.description, route.tags, route.unique_id)
    routes = [(route.path, _page_handler(documents, "html", *options))]
    if route.asyncapi_json_path:
        routes.append((route.asyncapi_json_path, _page_handler(documents, "json", False)))
    routes.append((route.asyncapi_yaml_path, _page_handler(documents, "yaml", False)))
    return routes


def _page_handler(
    documents: _Documents,
    kind: str,
    include_in_schema: bool,
    description: str | None = None,
    tags: Sequence[Any] | None = None,
    unique_id: str | None = None,
) -> GetHandler:
    content_type = {"html": _HTML, "json": _JSON, "yaml": _YAML}[kind]

    @_get(include_in_schema, description, tags, unique_id)
    async def page() -> AsgiResponse:
        return AsgiResponse(documents.page(kind), 200, {"content-type": content_type})

    return page
