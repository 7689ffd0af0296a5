"""HTTP handlers of the ASGI app: a request, a response, and ``@get`` / ``@post``.

A handler is an async function returning an :class:`AsgiResponse` (or any ASGI
callable). Its parameters are filled by name and annotation, resolved once at
decoration: ``request: Request`` (the :class:`AsgiRequest`), ``scope`` (the
ASGI scope, as the first positional parameter), ``Header("x-name")`` and
``Query("name")`` values, ``Logger``, and any ``Context(...)`` of the app's
first broker.
"""

from __future__ import annotations

import inspect
import json
import logging
from typing import TYPE_CHECKING, Annotated, Any, get_origin, overload
from urllib.parse import parse_qs

from pydantic import TypeAdapter, ValidationError

from topicflow._context import MISSING, walk
from topicflow._resolvers import signature_of, split_annotation
from topicflow.params import Context, ContextMarker

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping, MutableMapping, Sequence

    from topicflow._context import ContextRepo

    Scope = MutableMapping[str, Any]
    Message = MutableMapping[str, Any]
    Receive = Callable[[], Awaitable[Message]]
    Send = Callable[[Message], Awaitable[None]]
    ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

__all__ = [
    "AsgiRequest",
    "AsgiResponse",
    "GetHandler",
    "Header",
    "HttpHandler",
    "PostHandler",
    "Query",
    "Request",
    "get",
    "json_response",
    "post",
]


class AsgiRequest:
    """One HTTP request: its method, headers, query parameters and body."""

    def __init__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.scope = scope
        self._receive = receive
        self._send = send
        self._body: bytes | None = None
        self._headers: dict[str, str] | None = None
        self._query: dict[str, list[str]] | None = None

    @property
    def method(self) -> str:
        return str(self.scope["method"])

    @property
    def path(self) -> str:
        return str(self.scope["path"])

    @property
    def headers(self) -> dict[str, str]:
        """Header names in lower case; the last value of a repeated header wins."""
        if self._headers is None:
            self._headers = {
                key.decode("latin-1").lower(): value.decode("latin-1")
                for key, value in self.scope.get("headers", ())
            }
        return self._headers

    @property
    def query_params(self) -> dict[str, list[str]]:
        """Each query parameter's values, in order."""
        if self._query is None:
            raw = self.scope.get("query_string", b"").decode("latin-1")
            self._query = parse_qs(raw, keep_blank_values=True)
        return self._query

    async def body(self) -> bytes:
        """The whole request body (read once)."""
        if self._body is None:
            chunks = []
            while True:
                message = await self._receive()
                if message["type"] == "http.disconnect":
                    break
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    break
            self._body = b"".join(chunks)
        return self._body

    async def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(await self.body() or b"null")


Request = Annotated[AsgiRequest, Context("request")]
"""A handler parameter annotated ``Request`` gets the :class:`AsgiRequest`."""


class AsgiResponse:
    """A complete HTTP response; an ASGI callable that sends itself."""

    def __init__(
        self, body: bytes = b"", status_code: int = 200, headers: Mapping[str, str] | None = None
    ) -> None:
        self.body = body
        self.status_code = status_code
        given = {name.lower(): value for name, value in (headers or {}).items()}
        if status_code not in (204, 304) and "content-length" not in given:
            given["content-length"] = str(len(body))
        if body and "content-type" not in given:
            given["content-type"] = "text/plain; charset=utf-8"
        self.headers = given

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw = [
            (name.encode("latin-1"), value.encode("latin-1"))
            for name, value in self.headers.items()
        ]
        await send({"type": "http.response.start", "status": self.status_code, "headers": raw})
        await send({"type": "http.response.body", "body": self.body})

    def __repr__(self) -> str:
        return f"AsgiResponse(status_code={self.status_code}, body={self.body[:60]!r})"


def json_response(data: Any, status_code: int = 200) -> AsgiResponse:
    """``data`` as a JSON response."""
    body = json.dumps(data, separators=(",", ":"), default=str).encode()
    return AsgiResponse(body, status_code, {"content-type": "application/json"})


def Header(name: str = "", *, cast: bool = False, default: Any = ..., real_name: str = "") -> Any:
    """A request header (by its name, case-insensitive; default: the parameter's name,
    ``_`` read as ``-``), validated to the annotation with ``cast=True``."""
    return _HttpMarker("headers", (name or real_name).lower(), cast, default)


def Query(name: str = "", *, cast: bool = False, default: Any = ..., real_name: str = "") -> Any:
    """A query parameter: its last value, or every value for a ``list[...]``
    annotation; validated to the annotation with ``cast=True``."""
    return _HttpMarker("query", name or real_name, cast, default)


class _HttpMarker:
    __slots__ = ("cast", "default", "kind", "name")

    def __init__(self, kind: str, name: str, cast: bool, default: Any) -> None:
        self.kind = kind
        self.name = name
        self.cast = cast
        self.default = default


class HttpHandler:
    """An HTTP handler: the function, the methods it answers, and how each of its
    parameters is found (compiled once, here)."""

    def __init__(
        self,
        func: Callable[..., Awaitable[Any]],
        *,
        methods: Sequence[str],
        include_in_schema: bool = True,
        description: str | None = None,
        tags: Sequence[Any] | None = None,
        unique_id: str | None = None,
    ) -> None:
        if not inspect.iscoroutinefunction(func):
            raise TypeError(f"{func!r}: an HTTP handler is an async def function")
        self.func = func
        self.methods = tuple(method.upper() for method in methods)
        self.include_in_schema = include_in_schema
        self.description = description or func.__doc__
        self.tags = tuple(tags or ())
        self.unique_id = unique_id
        #: Where ``Context(...)`` parameters are looked up (the app's, once mounted).
        self.context: ContextRepo | None = None
        self.logger: logging.Logger | None = None
        self._args = _compile(func)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] not in self.methods and not (
            scope["method"] == "HEAD" and "GET" in self.methods
        ):
            allowed = ", ".join(self.methods)
            response: Any = AsgiResponse(b"Method Not Allowed", 405, {"allow": allowed})
        else:
            request = AsgiRequest(scope, receive, send)
            try:
                kwargs = {name: get(request, self) for name, get in self._args}
            except (ValidationError, LookupError) as exc:
                response = AsgiResponse(f"Validation error: {exc}".encode(), 422)
            else:
                try:
                    response = await self.func(**kwargs)
                except Exception:
                    if self.logger is not None:
                        self.logger.exception("HTTP handler %s failed", self.func.__qualname__)
                    response = AsgiResponse(b"Internal Server Error", 500)
        await response(scope, receive, send)


def _compile(
    func: Callable[..., Any],
) -> list[tuple[str, Callable[[AsgiRequest, HttpHandler], Any]]]:
    hints, params = signature_of(func)
    args = []
    for index, param in enumerate(params):
        annotation, marker = split_annotation(hints.get(param.name, Any), param.default)
        if isinstance(param.default, _HttpMarker):
            marker = param.default
        args.append((param.name, _resolver(index, param, annotation, marker)))
    return args


def _resolver(
    index: int, param: inspect.Parameter, annotation: Any, marker: Any
) -> Callable[[AsgiRequest, HttpHandler], Any]:
    if isinstance(marker, _HttpMarker):
        return _http_value(param.name, annotation, marker)
    if isinstance(marker, ContextMarker):
        key = marker.name or param.name
        default = marker.default

        def from_context(request: AsgiRequest, handler: HttpHandler) -> Any:
            if key == "request":
                return request
            if key == "logger":
                return handler.logger
            value = MISSING
            if key.startswith("request."):
                value = walk(request, key.removeprefix("request."))
            elif handler.context is not None:
                value = handler.context.get(key, MISSING)
            if value is MISSING:
                if default is ...:
                    raise LookupError(f"Context({key!r}) has no value")
                return default
            return value

        return from_context
    if isinstance(annotation, type) and issubclass(annotation, logging.Logger):
        return lambda request, handler: handler.logger
    if annotation is AsgiRequest or param.name == "request":
        return lambda request, handler: request
    if index == 0 and param.default is param.empty:
        return lambda request, handler: request.scope  # FastStream's first argument: the scope
    if param.default is not param.empty:
        default = param.default
        return lambda request, handler: default
    raise TypeError(
        f"HTTP handler parameter {param.name!r} has no source: annotate it Request, or give "
        "it Header(...), Query(...) or Context(...) as its default"
    )


def _http_value(
    name: str, annotation: Any, marker: _HttpMarker
) -> Callable[[AsgiRequest, HttpHandler], Any]:
    key = marker.name or (name.replace("_", "-") if marker.kind == "headers" else name)
    many = get_origin(annotation) in (list, tuple) or annotation in (list, tuple)
    validate = (
        TypeAdapter(annotation).validate_python if marker.cast and annotation is not Any else None
    )
    default = marker.default
    what = "header" if marker.kind == "headers" else "query parameter"

    def value(request: AsgiRequest, handler: HttpHandler) -> Any:
        if marker.kind == "headers":
            found: Any = request.headers.get(key, MISSING)
        else:
            values = request.query_params.get(key)
            found = MISSING if not values else (values if many else values[-1])
        if found is MISSING:
            if default is ...:
                raise LookupError(f"the request has no {what} {key!r}")
            return default
        return validate(found) if validate is not None else found

    return value


class GetHandler(HttpHandler):
    """A handler of ``GET`` (and ``HEAD``) requests."""


class PostHandler(HttpHandler):
    """A handler of ``POST`` requests."""


@overload
def get(func: Callable[..., Awaitable[Any]], /) -> GetHandler: ...


@overload
def get(
    func: None = None,
    *,
    include_in_schema: bool = True,
    description: str | None = None,
    tags: Sequence[Any] | None = None,
    unique_id: str | None = None,
) -> Callable[[Callable[..., Awaitable[Any]]], GetHandler]: ...


def get(
    func: Callable[..., Awaitable[Any]] | None = None,
    *,
    include_in_schema: bool = True,
    description: str | None = None,
    tags: Sequence[Any] | None = None,
    unique_id: str | None = None,
) -> GetHandler | Callable[[Callable[..., Awaitable[Any]]], GetHandler]:
    """``@get`` (or ``@get(description=...)``): ``func`` answers GET (and HEAD) requests."""

    def make(inner: Callable[..., Awaitable[Any]]) -> GetHandler:
        return GetHandler(
            inner,
            methods=("GET",),
            include_in_schema=include_in_schema,
            description=description,
            tags=tags,
            unique_id=unique_id,
        )

    return make(func) if func is not None else make


@overload
def post(func: Callable[..., Awaitable[Any]], /) -> PostHandler: ...


@overload
def post(
    func: None = None,
    *,
    include_in_schema: bool = True,
    description: str | None = None,
    tags: Sequence[Any] | None = None,
    unique_id: str | None = None,
) -> Callable[[Callable[..., Awaitable[Any]]], PostHandler]: ...


def post(
    func: Callable[..., Awaitable[Any]] | None = None,
    *,
    include_in_schema: bool = True,
    description: str | None = None,
    tags: Sequence[Any] | None = None,
    unique_id: str | None = None,
) -> PostHandler | Callable[[Callable[..., Awaitable[Any]]], PostHandler]:
    """``@post`` (or ``@post(description=...)``): ``func`` answers POST requests."""

    def make(inner: Callable[..., Awaitable[Any]]) -> PostHandler:
        return PostHandler(
            inner,
            methods=("POST",),
            include_in_schema=include_in_schema,
            description=description,
            tags=tags,
            unique_id=unique_id,
        )

    return make(func) if func is not None else make
