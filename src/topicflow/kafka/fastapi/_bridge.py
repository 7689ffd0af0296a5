"""FastAPI's parameters in topicflow handlers: compiled at registration, solved by FastAPI.

A handler of :class:`~topicflow.kafka.fastapi.KafkaRouter` is compiled like any
other (``topicflow._di``): its body, ``KafkaMessage``, ``Logger`` and ``Context``
parameters are the plain lookups of the compiled plan. What FastAPI declares
(``fastapi.Depends``, ``Security``, ``Header``, ``Query``, ``Path``, ``Body``, and
parameters annotated ``Request`` or ``BackgroundTasks``) is registered here
(``register_marker``) and becomes one :class:`~topicflow._spec.Arg` each, built at
registration from FastAPI's own ``get_dependant``. Per message, the first such
argument opens a :class:`_Session`: a starlette ``Request`` made of the message
(its headers, its body fields as query parameters, its ``Path`` placeholders),
FastAPI's exit stacks and dependency cache; every argument is then solved with
``fastapi.dependencies.utils.solve_dependencies`` against it, so dependencies
shared between parameters run once, ``yield`` dependencies close after the
handler (seeing its exception), ``app.dependency_overrides`` apply, and
background tasks run once the handler succeeded. Handlers without FastAPI
parameters never reach this module: their plan is unchanged.

Input that does not fit what a FastAPI dependency declares is a poison message
(``DecodeError``, caused by FastAPI's ``RequestValidationError``).
"""

from __future__ import annotations

import contextlib
import inspect
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import params
from fastapi.dependencies.utils import get_dependant, solve_dependencies
from fastapi.exceptions import RequestValidationError
from starlette.background import BackgroundTasks as StarletteBackgroundTasks
from starlette.requests import HTTPConnection, Request

from topicflow._body import BODY_ERRORS, decode_error, read_any, where
from topicflow._resolvers import param_arg, register_driver, register_marker
from topicflow._spec import UNSET, Arg, State
from topicflow.exceptions import DecodeError
from topicflow.params import ContextMarker

if TYPE_CHECKING:
    from collections.abc import Callable
    from types import TracebackType

    from fastapi.dependencies.models import Dependant

    from topicflow._context import ContextRepo
    from topicflow.kafka.message import KafkaMessage

__all__ = ["CONTEXT_MARK", "ROUTER_KEY", "Context", "install"]

#: The attribute of a ``Context(...)`` dependency's function: its topicflow marker,
#: so that a handler parameter gets the plain context lookup instead of a FastAPI solve.
CONTEXT_MARK = "__topicflow_context__"

#: The context global under which a KafkaRouter puts itself (for the FastAPI app,
#: its dependency overrides), read by each message's session.
ROUTER_KEY = "_fastapi_router"

# Keys of the request scope a message's session makes.
_MESSAGE = "topicflow.message"
_CONTEXT = "topicflow.context"

_REQUIRED: Any = ...


class _AsDeclared:
    """The marker of parameters FastAPI resolves by their annotation alone (``Request``)."""

    __slots__ = ()


_AS_DECLARED = _AsDeclared()


def Context(
    name: str,
    *,
    default: Any = _REQUIRED,
    initial: Callable[[], Any] | None = None,
) -> Any:
    """A value of the broker's context, as FastStream's ``faststream.kafka.fastapi.Context``:
    a FastAPI dependency, usable in handlers and in FastAPI dependencies alike.

    In a handler it is the plain lookup of ``topicflow.Context(name)``; in a
    dependency FastAPI solves, it reads the message's context from the request.
    """
    marker = ContextMarker(name, default, False, initial)
    lookup = param_arg("value", Any, marker)
    assert lookup is not None

    def solve_context(request: Request) -> Any:
        repo = request.scope.get(_CONTEXT)
        msg = request.scope.get(_MESSAGE)
        if msg is None:
            raise LookupError(
                f"Context({name!r}) is only known while a message is handled; it was asked "
                "for by an HTTP request: use Depends on something else in HTTP endpoints"
            )
        return lookup.get(State(msg, repo))

    setattr(solve_context, CONTEXT_MARK, marker)
    return params.Depends(solve_context, use_cache=True)


class _Session:
    """One message as FastAPI sees it: a request, exit stacks, a dependency cache."""

    __slots__ = ("background", "body", "cache", "overrides", "request", "stack")

    def __init__(self, request: Request, body: Any, overrides: Any) -> None:
        self.request = request
        self.body = body
        self.overrides = overrides
        self.cache: dict[Any, Any] = {}
        self.background: StarletteBackgroundTasks | None = None
        self.stack = contextlib.AsyncExitStack()

    async def solve(self, dependant: Dependant) -> dict[str, Any]:
        solved = await solve_dependencies(
            request=self.request,
            dependant=dependant,
            body=self.body,
            background_tasks=self.background,
            dependency_overrides_provider=self.overrides,
            dependency_cache=self.cache,
            async_exit_stack=self.stack,
            embed_body_fields=False,
        )
        if solved.background_tasks is not None:
            self.background = solved.background_tasks
        if solved.errors:
            msg: KafkaMessage = self.request.scope[_MESSAGE]
            cause = RequestValidationError(solved.errors, body=self.body)
            raise DecodeError(
                f"{where(msg)}: the message does not fit a FastAPI dependency: {solved.errors}"
            ) from cause
        return solved.values

    async def after(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        # After FastAPI's stacks closed: background tasks run once the handler succeeded.
        if exc_type is None and self.background is not None:
            await self.background()
        return False


_SESSION_KEY = _Session


async def _session(state: State, needs_body: bool) -> _Session:
    """The message's session, opened by the first FastAPI argument that asks for it."""
    session: _Session | None = state.cache.get(_SESSION_KEY)
    if session is None:
        msg = state.msg
        if msg is None:  # a batch: FastAPI's request is made of one message
            raise RuntimeError(
                "FastAPI parameters (Depends, Header, Request, ...) need one message; a "
                "batch handler has none: use topicflow.Depends or Context(...) there"
            )
        body = _body_of(state) if needs_body else None
        router = state.context.get(ROUTER_KEY) if state.context is not None else None
        session = _Session(_request_of(msg, state.context, body, router), body, None)
        if router is not None:
            session.overrides = router.dependency_overrides_provider
        stack = state.stack
        assert stack is not None  # the Arg says needs_stack
        stack.push_async_exit(session.after)
        inner = await stack.enter_async_context(contextlib.AsyncExitStack())
        function = await inner.enter_async_context(contextlib.AsyncExitStack())
        scope = session.request.scope
        scope["fastapi_astack"] = scope["fastapi_inner_astack"] = inner
        scope["fastapi_function_astack"] = function
        session.stack = inner
        state.cache[_SESSION_KEY] = session
    elif needs_body and session.body is None:
        session.body = _body_of(state)
        session.request._query_params = _query_of(session.body, state.msg)  # type: ignore[assignment]
    return session


def _body_of(state: State) -> Any:
    body = state.body
    if body is UNSET:
        try:
            body = state.body = read_any(state.msg.raw_message)
        except BODY_ERRORS as exc:
            raise decode_error(state.msg, exc) from exc
    return body


def _query_of(body: Any, msg: KafkaMessage) -> dict[str, Any]:
    # As in FastStream: a dependency's plain parameters are the body's fields.
    fields = dict(body) if isinstance(body, dict) else {}
    return {**fields, **msg.path}


def _request_of(msg: KafkaMessage, context: ContextRepo | None, body: Any, router: Any) -> Request:
    headers = [
        (key.lower().encode("latin-1"), value if isinstance(value, bytes) else value.encode())
        for key, value in msg.raw_message.headers or ()
    ]
    app = getattr(router, "application", None)
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "kafka",
        "path": f"/{msg.topic}",
        "raw_path": f"/{msg.topic}".encode(),
        "root_path": "",
        "query_string": b"",
        "headers": headers,
        "path_params": dict(msg.path),
        "client": None,
        "server": None,
        "state": {},
        "app": app,
        _MESSAGE: msg,
        _CONTEXT: context,
    }
    request = Request(scope)
    request._query_params = _query_of(body, msg)  # type: ignore[assignment]
    return request


def _reads_input(dependant: Dependant) -> bool:
    """Whether solving ``dependant`` reads the body (body or query parameters at any depth)."""
    if dependant.body_params or dependant.query_params:
        return True
    return any(_reads_input(sub) for sub in dependant.dependencies)


def _declaring(name: str, annotation: Any, default: Any) -> Callable[..., None]:
    """A function with the one parameter ``name``, for ``get_dependant`` to read."""

    def declared(**values: Any) -> None:
        """Never called: FastAPI reads its signature."""

    parameter = inspect.Parameter(
        name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation, default=default
    )
    declared.__signature__ = inspect.Signature([parameter])  # type: ignore[attr-defined]
    return declared


def _fastapi_arg(name: str, annotation: Any, marker: Any) -> Arg:
    """A parameter declared with FastAPI's markers, solved by FastAPI per message."""
    if isinstance(marker, params.Depends):
        context = getattr(marker.dependency, CONTEXT_MARK, None)
        if context is not None:  # our Context(...): the plain lookup
            arg = param_arg(name, annotation, context)
            assert arg is not None
            return arg
    # The marker as the parameter's default: FastAPI refuses a Header("x") default
    # inside Annotated.
    default = inspect.Parameter.empty if marker is _AS_DECLARED else marker
    declared = _declaring(name, annotation, default)
    dependant = get_dependant(path="", call=declared)
    needs_body = _reads_input(dependant)

    async def solve(state: State) -> Any:
        session = await _session(state, needs_body)
        values = await session.solve(dependant)
        return values[name]

    return Arg(name, solve, awaits=True, needs_stack=True, reads_body=needs_body)


def install() -> None:
    """Register FastAPI's markers and classes with topicflow's handler compiler."""
    register_marker(params.Depends, _fastapi_arg)  # Security too: a subclass
    register_marker(params.Param, _fastapi_arg)  # Header, Query, Path, Cookie
    register_marker(params.Body, _fastapi_arg)  # Body, Form, File
    register_marker(_AsDeclared, _fastapi_arg)
    for cls in (Request, HTTPConnection, StarletteBackgroundTasks):  # fastapi's is a subclass
        register_driver(cls, Annotated[cls, _AS_DECLARED])
