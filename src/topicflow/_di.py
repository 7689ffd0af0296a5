"""Handler signatures, compiled once at registration into a call plan.

A handler's parameters are read when it is registered and turned into the
cheapest way to build its arguments from a message: a reader that validates
the record bytes directly for the body (``topicflow._body``), plain lookups for
``KafkaMessage``, ``Path``, ``Header`` and ``Context`` parameters, and compiled
sub-plans for ``Depends``. Nothing is introspected per message.

At start, :meth:`HandlerPlan.bind` adds what is only known then (a custom
decoder, the broker's, routers' and subscriber's ``dependencies=``); with none
of those, the handler is called through a path of one validation and one call.

Errors while building the arguments from the message (body, headers, path)
raise :class:`~topicflow.exceptions.DecodeError`, so the subscriber can tell a
poison message from a failing handler or dependency.
"""

from __future__ import annotations

import collections.abc
import contextlib
import inspect
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, get_args, get_origin, get_type_hints

from pydantic import ConfigDict, TypeAdapter, ValidationError, create_model

from topicflow._body import BODY_ERRORS, decode_error, read_any, reader, records_reader, where
from topicflow._context import MISSING
from topicflow.exceptions import DecodeError, SetupError
from topicflow.params import ContextMarker, DependsMarker, HeaderMarker, Marker, PathMarker

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterable, Sequence

    from topicflow._body import Reader
    from topicflow._context import ContextRepo
    from topicflow.kafka.message import KafkaMessage

__all__ = ["BatchPlan", "HandlerPlan", "compile_batch_handler", "compile_handler"]


class _State:
    """Per-message scratch: dependency results, generator cleanups, the decoded body."""

    __slots__ = ("cache", "decode", "msg", "stack")

    def __init__(self, msg: KafkaMessage, stack: contextlib.AsyncExitStack | None) -> None:
        self.msg = msg
        self.stack = stack
        self.cache: dict[Any, Any] = {}
        self.decode: Callable[[KafkaMessage], Awaitable[Any]] | None = None

    async def body(self) -> Any:
        if "body" not in self.cache:
            msg = self.msg
            if self.decode is not None:
                self.cache["body"] = await self.decode(msg)
            else:
                self.cache["body"] = read_any(msg.raw_message)
        return self.cache["body"]


@dataclass(frozen=True, slots=True)
class _Spec:
    """A compiled callable: the handler or one dependency."""

    func: Callable[..., Any]
    resolvers: tuple[tuple[str, Callable[[_State], Awaitable[Any]]], ...]
    kind: str  # "async", "sync", "gen", "asyncgen"
    needs_stack: bool


@dataclass(frozen=True, slots=True)
class HandlerPlan:
    """What registration learned about a handler, and how to call it."""

    func: Callable[..., Any]
    #: Takes a message, returns the handler's result (default decoder, no extra
    #: dependencies). Raises DecodeError for input that does not fit.
    call: Callable[[KafkaMessage], Awaitable[Any]]
    #: The annotation of the body (a synthesised model for several body parameters).
    body_type: Any
    return_type: Any
    #: Names used by ``Path()`` parameters (checked against the subscriber's pattern).
    path_names: tuple[str, ...] = ()
    _spec: _Spec | None = field(default=None, repr=False)
    _fast: bool = field(default=False, repr=False)
    _context: list[ContextRepo | None] = field(default_factory=lambda: [None], repr=False)

    def bind(
        self,
        *,
        decoder: Callable[[KafkaMessage], Awaitable[Any]] | None = None,
        dependencies: Iterable[Any] = (),
        context: ContextRepo | None = None,
    ) -> Callable[[KafkaMessage], Awaitable[Any]]:
        """The call to use at run time, given settings resolved at start."""
        self._context[0] = context
        extra = tuple(_compile_dependency(d, self._context) for d in dependencies)
        if decoder is None and not extra and self._fast:
            return self.call
        assert self._spec is not None
        return _general_call(self._spec, extra, decoder)


@dataclass(frozen=True, slots=True)
class BatchPlan:
    """A batch handler: one ``list[T]`` parameter; each record is validated as ``T``."""

    func: Callable[..., Any]
    #: One record's body as ``T``; raises DecodeError.
    extract: Callable[[KafkaMessage], Any]
    #: Calls the handler with the list of bodies.
    call: Callable[[list[Any]], Awaitable[Any]]
    body_type: Any
    return_type: Any
    #: The bodies of many records at once, straight from the client's records
    #: (no message objects), when the default parser and decoder apply. Raises
    #: ValueError when any record does not fit: then go record by record to
    #: find it. None for item types read from messages (``Any``, ``str``).
    extract_records: Callable[[Sequence[Any]], list[Any]] | None = None


def compile_handler(func: Callable[..., Any]) -> HandlerPlan:
    """Analyse ``func``'s signature once and build its call plan."""
    hints, params = _signature(func)
    context_box: list[ContextRepo | None] = [None]
    body_params: list[tuple[str, Any, Any]] = []
    other: list[tuple[str, Callable[[_State], Awaitable[Any]]]] = []
    path_names: list[str] = []
    stack = [False]
    for param in params:
        annotation, marker = _split_annotation(hints.get(param.name, Any), param.default)
        resolver = _param_resolver(param.name, annotation, marker, context_box, path_names, stack)
        if resolver is None:
            default = ... if param.default is param.empty else param.default
            body_params.append((param.name, annotation, default))
        else:
            other.append((param.name, resolver))

    body_type: Any = None
    body_resolvers: list[tuple[str, Callable[[_State], Awaitable[Any]]]] = []
    fast_read: Reader | None = None
    if len(body_params) == 1:
        name, body_type, _ = body_params[0]
        fast_read = reader(body_type)
        body_resolvers.append((name, _body_resolver(body_type, fast_read, None)))
    elif body_params:
        body_type = create_model(  # type: ignore[call-overload]
            f"{_name(func)}_body",
            __config__=ConfigDict(arbitrary_types_allowed=True),
            **{name: (tp, default) for name, tp, default in body_params},
        )
        model_resolver = _body_resolver(body_type, reader(body_type), "model")
        for name, _, _ in body_params:
            body_resolvers.append((name, _field_of(model_resolver, name)))

    spec = _Spec(
        func=func,
        resolvers=tuple(other + body_resolvers),
        kind=_kind(func),
        needs_stack=stack[0],
    )
    fast = fast_read is not None and not other and spec.kind in ("async", "sync")
    if fast:
        assert fast_read is not None
        call = _fast_call(func, fast_read)
    else:
        call = _general_call(spec, (), None)
    return HandlerPlan(
        func=func,
        call=call,
        body_type=body_type,
        return_type=hints.get("return", Any),
        path_names=tuple(path_names),
        _spec=spec,
        _fast=fast,
        _context=context_box,
    )


def compile_batch_handler(func: Callable[..., Any]) -> BatchPlan:
    """Plan a batch handler: exactly one parameter, annotated ``list[T]`` (or unannotated)."""
    hints, params = _signature(func)
    if len(params) != 1:
        raise SetupError(
            f"batch handler {_name(func)} must take exactly one parameter, the list of "
            "bodies: async def handle(orders: list[Order]) -> None"
        )
    annotation = hints.get(params[0].name, Any)
    origin = get_origin(annotation)
    if annotation is Any or annotation is list:
        item: Any = Any
    elif origin in (list, collections.abc.Sequence):
        (item,) = get_args(annotation) or (Any,)
    else:
        raise SetupError(
            f"batch handler {_name(func)} takes {annotation!r}; annotate it as list[T], "
            "e.g. list[Order]: each record is validated as T"
        )
    read = reader(item)
    call_func = _as_async(func)

    def extract(msg: KafkaMessage) -> Any:
        try:
            return read(msg.raw_message)
        except BODY_ERRORS as exc:
            raise decode_error(msg, exc) from exc

    async def call(bodies: list[Any]) -> Any:
        return await call_func(bodies)

    return BatchPlan(
        func=func,
        extract=extract,
        call=call,
        body_type=list[item],
        return_type=hints.get("return", Any),
        extract_records=records_reader(item),
    )


# -- calls ---------------------------------------------------------------------


def _fast_call(func: Callable[..., Any], read: Reader) -> Callable[[KafkaMessage], Awaitable[Any]]:
    # The common case, kept to one validation and one call.
    if _kind(func) == "async":
        # A plain function returning the handler's own coroutine: the caller awaits
        # that directly, with no coroutine of ours wrapped around it per message.
        def call(msg: KafkaMessage) -> Awaitable[Any]:
            try:
                value = read(msg.raw_message)
            except BODY_ERRORS as exc:
                raise decode_error(msg, exc) from exc
            return func(value)  # type: ignore[no-any-return]

        return call

    async def call_sync(msg: KafkaMessage) -> Any:
        try:
            value = read(msg.raw_message)
        except BODY_ERRORS as exc:
            raise decode_error(msg, exc) from exc
        return func(value)

    return call_sync


def _general_call(
    spec: _Spec,
    extra: tuple[_Spec, ...],
    decoder: Callable[[KafkaMessage], Awaitable[Any]] | None,
) -> Callable[[KafkaMessage], Awaitable[Any]]:
    needs_stack = spec.needs_stack or any(dep.needs_stack for dep in extra)

    async def run(state: _State) -> Any:
        for dep in extra:
            await _solve(dep, state, cache=True)
        return await _invoke(spec, state)

    async def call(msg: KafkaMessage) -> Any:
        if not needs_stack:
            state = _State(msg, None)
            state.decode = decoder
            return await run(state)
        async with contextlib.AsyncExitStack() as stack:
            state = _State(msg, stack)
            state.decode = decoder
            return await run(state)

    return call


async def _invoke(spec: _Spec, state: _State) -> Any:
    kwargs = {name: await resolve(state) for name, resolve in spec.resolvers}
    func = spec.func
    kind = spec.kind
    if kind == "async":
        return await func(**kwargs)
    if kind == "sync":
        return func(**kwargs)
    assert state.stack is not None
    if kind == "asyncgen":
        return await state.stack.enter_async_context(_async_generator_scope(func(**kwargs)))
    return state.stack.enter_context(_generator_scope(func(**kwargs)))


# A generator dependency's code after ``yield`` always runs once the handler is done,
# also when it raised: the handler's exception is not thrown into the generator.
@contextlib.contextmanager
def _generator_scope(gen: Any) -> Any:
    value = next(gen)
    try:
        yield value
    finally:
        try:
            next(gen)
        except StopIteration:
            pass
        else:
            raise SetupError(f"dependency {gen.__qualname__} must yield exactly once")


@contextlib.asynccontextmanager
async def _async_generator_scope(gen: Any) -> Any:
    value = await gen.__anext__()
    try:
        yield value
    finally:
        try:
            await gen.__anext__()
        except StopAsyncIteration:
            pass
        else:
            raise SetupError(f"dependency {gen.__qualname__} must yield exactly once")


async def _solve(spec: _Spec, state: _State, *, cache: bool) -> Any:
    if cache and spec.func in state.cache:
        return state.cache[spec.func]
    value = await _invoke(spec, state)
    if cache:
        state.cache[spec.func] = value
    return value


# -- parameters ----------------------------------------------------------------


def _param_resolver(
    name: str,
    annotation: Any,
    marker: Any,
    context_box: list[ContextRepo | None],
    path_names: list[str],
    stack: list[bool],
) -> Callable[[_State], Awaitable[Any]] | None:
    """How to fill one parameter, or None for a body parameter.

    ``stack[0]`` is set when the parameter needs a per-message exit stack (a
    generator dependency at any depth).
    """
    from topicflow.kafka.message import KafkaMessage

    if isinstance(annotation, type) and issubclass(annotation, KafkaMessage):

        async def the_message(state: _State) -> Any:
            return state.msg

        return the_message
    if isinstance(marker, DependsMarker):
        dep = _compile_dependency(marker, context_box)
        stack[0] = stack[0] or dep.needs_stack
        use_cache = marker.use_cache

        async def depends(state: _State) -> Any:
            return await _solve(dep, state, cache=use_cache)

        return depends
    if isinstance(marker, PathMarker):
        key = marker.name or name
        path_names.append(key)
        return _lookup(lambda msg: msg.path.get(key, MISSING), annotation, marker, f"Path({key!r})")
    if isinstance(marker, HeaderMarker):
        key = marker.name or name
        return _lookup(
            lambda msg: msg.headers.get(key, MISSING), annotation, marker, f"header {key!r}"
        )
    if isinstance(marker, ContextMarker):
        key = marker.name or name
        default = marker.default

        async def context(state: _State) -> Any:
            repo = context_box[0]
            if repo is None:
                value = state.msg if key == "message" else MISSING
            else:
                value = repo.resolve(key, state.msg)
            if value is MISSING:
                if default is ...:
                    raise SetupError(
                        f"Context({key!r}) is not set; set it with "
                        f"broker.context.set_global({key!r}, value)"
                    )
                return default
            return value

        return context
    return None


def _lookup(
    get: Callable[[KafkaMessage], Any], annotation: Any, marker: Marker, what: str
) -> Callable[[_State], Awaitable[Any]]:
    convert = _converter(annotation)
    default = marker.default

    async def lookup(state: _State) -> Any:
        msg = state.msg
        value = get(msg)
        if value is MISSING:
            if default is ...:
                raise DecodeError(f"{where(msg)}: the message has no {what}")
            return default
        try:
            return convert(value)
        except ValidationError as exc:
            raise decode_error(msg, exc) from exc

    return lookup


def _compile_dependency(
    dependency: Any, context_box: list[ContextRepo | None] | None = None
) -> _Spec:
    marker = dependency if isinstance(dependency, DependsMarker) else DependsMarker(dependency)
    func = marker.dependency
    hints, params = _signature(func)
    box: list[ContextRepo | None] = context_box if context_box is not None else [None]
    resolvers: list[tuple[str, Callable[[_State], Awaitable[Any]]]] = []
    stack = [_kind(func) in ("gen", "asyncgen")]
    for param in params:
        annotation, inner = _split_annotation(hints.get(param.name, Any), param.default)
        resolver = _param_resolver(param.name, annotation, inner, box, [], stack)
        if resolver is None:
            default = ... if param.default is param.empty else param.default
            resolver = _body_field(param.name, annotation, default)
        resolvers.append((param.name, resolver))
    return _Spec(
        func=func,
        resolvers=tuple(resolvers),
        kind=_kind(func),
        needs_stack=stack[0],
    )


def _body_field(name: str, annotation: Any, default: Any) -> Callable[[_State], Awaitable[Any]]:
    """A dependency parameter taken from the field of the same name in the body."""
    convert = _converter(annotation)

    async def body_field(state: _State) -> Any:
        msg = state.msg
        try:
            body = await state.body()
        except BODY_ERRORS as exc:
            raise decode_error(msg, exc) from exc
        value = body.get(name, default) if isinstance(body, dict) else default
        if value is ...:
            raise DecodeError(
                f"{where(msg)}: the body has no field {name!r}, which a dependency takes"
            )
        try:
            return convert(value)
        except ValidationError as exc:
            raise decode_error(msg, exc) from exc

    return body_field


def _body_resolver(
    annotation: Any, read: Reader, cache_key: str | None
) -> Callable[[_State], Awaitable[Any]]:
    adapter = None if annotation in (Any, bytes) else TypeAdapter(annotation)

    async def body(state: _State) -> Any:
        if cache_key is not None and cache_key in state.cache:
            return state.cache[cache_key]
        msg = state.msg
        try:
            if state.decode is None:
                value = read(msg.raw_message)
            else:
                decoded = await state.body()
                value = decoded if adapter is None else adapter.validate_python(decoded)
        except BODY_ERRORS as exc:
            raise decode_error(msg, exc) from exc
        if cache_key is not None:
            state.cache[cache_key] = value
        return value

    return body


def _field_of(
    model: Callable[[_State], Awaitable[Any]], name: str
) -> Callable[[_State], Awaitable[Any]]:
    async def field_value(state: _State) -> Any:
        return getattr(await model(state), name)

    return field_value


# -- helpers -------------------------------------------------------------------


def _signature(func: Callable[..., Any]) -> tuple[dict[str, Any], list[inspect.Parameter]]:
    if not callable(func):
        raise SetupError(f"a handler must be a function, got {func!r}")
    try:
        hints = get_type_hints(func, include_extras=True)
    except (NameError, TypeError) as exc:
        raise SetupError(
            f"cannot read the type annotations of {_name(func)}: {exc}. Import the "
            "names used in its annotations at module level."
        ) from exc
    params = list(inspect.signature(func).parameters.values())
    for param in params:
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise SetupError(
                f"{_name(func)} takes *{param.name}; handlers need named parameters, "
                "each with a type annotation"
            )
    return hints, params


def _split_annotation(annotation: Any, default: Any) -> tuple[Any, Any]:
    """The plain type and the marker (from ``Annotated[...]`` or the default), if any."""
    markers = (Marker, DependsMarker)
    if get_origin(annotation) is Annotated:
        base, *extras = get_args(annotation)
        for extra in extras:
            if isinstance(extra, markers):
                return base, extra
        annotation = base
    if isinstance(default, markers):
        return annotation, default
    return annotation, None


def _kind(func: Callable[..., Any]) -> str:
    if inspect.isasyncgenfunction(func):
        return "asyncgen"
    if inspect.isgeneratorfunction(func):
        return "gen"
    if inspect.iscoroutinefunction(func):
        return "async"
    if not inspect.isroutine(func) and inspect.iscoroutinefunction(type(func).__call__):
        return "async"  # an object with an async __call__
    return "sync"


def _converter(annotation: Any) -> Callable[[Any], Any]:
    if annotation in (Any, inspect.Parameter.empty):
        return lambda value: value
    return TypeAdapter(annotation).validate_python


def _as_async(func: Callable[..., Any]) -> Callable[..., Awaitable[Any]]:
    if _kind(func) == "async":
        return func

    async def call_sync(*args: Any, **kwargs: Any) -> Any:
        return func(*args, **kwargs)

    return call_sync


def _name(func: Any) -> str:
    return getattr(func, "__qualname__", repr(func))
