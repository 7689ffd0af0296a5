"""Handler signatures, compiled once at registration into a call plan.

A handler's parameters are read when it is registered and turned into the
cheapest way to build its arguments from a message: a pydantic ``TypeAdapter``
that validates the record bytes directly for the body, plain lookups for the
message itself, ``Path`` and ``Header`` parameters. Nothing is introspected per
message.

Errors while building the arguments raise :class:`~topicflow.exceptions.DecodeError`,
so the subscriber can tell a poison message from a failing handler.
"""

from __future__ import annotations

import collections.abc
import inspect
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, get_args, get_origin, get_type_hints

from pydantic import ConfigDict, TypeAdapter, ValidationError, create_model

from topicflow._codec import decode_body, is_json, is_text
from topicflow.exceptions import DecodeError, SetupError
from topicflow.params import HeaderMarker, PathMarker

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from topicflow.kafka.message import KafkaMessage

__all__ = ["BatchPlan", "HandlerPlan", "compile_batch_handler", "compile_handler"]


@dataclass(frozen=True, slots=True)
class HandlerPlan:
    """What registration learned about a handler, and how to call it."""

    func: Callable[..., Any]
    #: Takes a message, returns the handler's result. Raises DecodeError for bad input.
    call: Callable[[KafkaMessage], Awaitable[Any]]
    #: The annotation of the body (a synthesised model for several body parameters).
    body_type: Any
    return_type: Any
    #: Names used by ``Path()`` parameters (checked against the subscriber's pattern).
    path_names: tuple[str, ...] = ()


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


def compile_handler(func: Callable[..., Any]) -> HandlerPlan:
    """Analyse ``func``'s signature once and build its call plan."""
    # Imported here: the kafka package imports this module while it initialises.
    from topicflow.kafka.message import KafkaMessage

    hints, params = _signature(func)
    resolvers: list[tuple[str, Callable[[KafkaMessage], Any]]] = []
    body_params: list[tuple[str, Any, Any]] = []
    path_names: list[str] = []
    for param in params:
        annotation, marker = _split_annotation(hints.get(param.name, Any), param.default)
        default = ... if param.default is param.empty else param.default
        if isinstance(annotation, type) and issubclass(annotation, KafkaMessage):
            resolvers.append((param.name, _the_message))
        elif isinstance(marker, PathMarker):
            name = marker.name or param.name
            path_names.append(name)
            resolvers.append((param.name, _path_resolver(name, annotation, marker.default)))
        elif isinstance(marker, HeaderMarker):
            name = marker.name or param.name
            resolvers.append((param.name, _header_resolver(name, annotation, marker.default)))
        else:
            body_params.append((param.name, annotation, default))

    call_func = _as_async(func)
    body_type: Any = None
    if len(body_params) == 1:
        name, body_type, _ = body_params[0]
        resolvers.append((name, _extractor(body_type)))
    elif body_params:
        body_type = create_model(  # type: ignore[call-overload]
            f"{_name(func)}_body",
            __config__=ConfigDict(arbitrary_types_allowed=True),
            **{name: (tp, default) for name, tp, default in body_params},
        )
        extract_model = _extractor(body_type)
        for name, _, _ in body_params:
            resolvers.append((name, _field_resolver(extract_model, name)))

    if len(resolvers) == 1 and body_params:
        # The common case, kept to one function call and one validation.
        only = resolvers[0][1]

        async def call(msg: KafkaMessage) -> Any:
            try:
                value = only(msg)
            except (ValidationError, UnicodeDecodeError) as exc:
                raise _decode_error(msg, exc) from exc
            return await call_func(value)

    else:
        plan = tuple(resolvers)

        async def call(msg: KafkaMessage) -> Any:
            try:
                kwargs = {name: resolve(msg) for name, resolve in plan}
            except (ValidationError, UnicodeDecodeError) as exc:
                raise _decode_error(msg, exc) from exc
            return await call_func(**kwargs)

    return HandlerPlan(
        func=func,
        call=call,
        body_type=body_type,
        return_type=hints.get("return", Any),
        path_names=tuple(path_names),
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
    extract_item = _extractor(item)
    call_func = _as_async(func)

    def extract(msg: KafkaMessage) -> Any:
        try:
            return extract_item(msg)
        except (ValidationError, UnicodeDecodeError) as exc:
            raise _decode_error(msg, exc) from exc

    async def call(bodies: list[Any]) -> Any:
        return await call_func(bodies)

    return BatchPlan(
        func=func,
        extract=extract,
        call=call,
        body_type=list[item],
        return_type=hints.get("return", Any),
    )


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
    if get_origin(annotation) is Annotated:
        base, *extras = get_args(annotation)
        for extra in extras:
            if isinstance(extra, PathMarker | HeaderMarker):
                return base, extra
        annotation = base
    if isinstance(default, PathMarker | HeaderMarker):
        return annotation, default
    return annotation, None


def _the_message(msg: KafkaMessage) -> KafkaMessage:
    return msg


def _field_resolver(
    extract_model: Callable[[KafkaMessage], Any], name: str
) -> Callable[[KafkaMessage], Any]:
    # Several body parameters: the model is validated once per message, not per field.
    def resolve(msg: KafkaMessage) -> Any:
        model = msg.scratch.get(extract_model)
        if model is None:
            model = msg.scratch[extract_model] = extract_model(msg)
        return getattr(model, name)

    return resolve


def _converter(annotation: Any) -> Callable[[Any], Any]:
    if annotation in (Any, str, inspect.Parameter.empty):
        return lambda value: value
    return TypeAdapter(annotation).validate_python


def _path_resolver(name: str, annotation: Any, default: Any) -> Callable[[KafkaMessage], Any]:
    convert = _converter(annotation)

    def resolve(msg: KafkaMessage) -> Any:
        value = msg.path.get(name, default)
        if value is ...:
            raise DecodeError(
                f"topic={msg.topic} partition={msg.partition} offset={msg.offset}: the topic "
                f"does not fill the Path({name!r}) placeholder of the subscriber's pattern"
            )
        return convert(value)

    return resolve


def _header_resolver(name: str, annotation: Any, default: Any) -> Callable[[KafkaMessage], Any]:
    convert = _converter(annotation)

    def resolve(msg: KafkaMessage) -> Any:
        value = msg.headers.get(name, default)
        if value is ...:
            raise DecodeError(
                f"topic={msg.topic} partition={msg.partition} offset={msg.offset}: "
                f"required header {name!r} is missing"
            )
        return convert(value)

    return resolve


def _extractor(annotation: Any) -> Callable[[KafkaMessage], Any]:
    """The fastest way to get a value of ``annotation`` from a message body."""
    if annotation is bytes:
        return lambda msg: msg.body
    if annotation is Any or annotation is inspect.Parameter.empty:
        return lambda msg: decode_body(msg.raw_message.value, msg.content_type)
    adapter: TypeAdapter[Any] = TypeAdapter(annotation)
    validate_json = adapter.validate_json
    validate_python = adapter.validate_python

    if annotation is str:

        def extract_text(msg: KafkaMessage) -> Any:
            value = msg.raw_message.value
            if type(value) is not bytes:  # None, or a value_deserializer's result
                return validate_python(value)
            if is_json(msg.content_type):
                return validate_json(value)
            return value.decode()

        return extract_text

    def extract(msg: KafkaMessage) -> Any:
        value = msg.raw_message.value
        if type(value) is not bytes:  # None, or a value_deserializer's result
            return validate_python(value)
        if msg.raw_message.headers and is_text(msg.content_type):
            return validate_python(value.decode())
        return validate_json(value)

    return extract


def _decode_error(msg: KafkaMessage, exc: Exception) -> DecodeError:
    if isinstance(exc, ValidationError):
        reason = str(exc)
    else:
        reason = f"the body is not valid UTF-8 text ({exc})"
    return DecodeError(
        f"topic={msg.topic} partition={msg.partition} offset={msg.offset}: "
        f"the body does not fit the handler's types: {reason}"
    )


def _as_async(func: Callable[..., Any]) -> Callable[..., Awaitable[Any]]:
    if inspect.iscoroutinefunction(func):
        return func

    async def call_sync(*args: Any, **kwargs: Any) -> Any:
        return func(*args, **kwargs)

    return call_sync


def _name(func: Any) -> str:
    return getattr(func, "__qualname__", repr(func))
