"""Handler signatures, compiled once at registration into a call plan.

A handler's parameters are read when it is registered, and turned into the
cheapest way to build its arguments from a message: a pydantic ``TypeAdapter``
that validates the record bytes directly for the body, the message itself for
``KafkaMessage`` parameters. Nothing is introspected per message.

Errors while building the body raise :class:`~topicflow.exceptions.DecodeError`,
so the subscriber can tell a poison message from a failing handler.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, get_type_hints

from pydantic import ConfigDict, TypeAdapter, ValidationError, create_model

from topicflow._codec import decode_body, is_json, is_text
from topicflow.exceptions import DecodeError, SetupError

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from topicflow.kafka.message import KafkaMessage

__all__ = ["HandlerPlan", "compile_handler"]


@dataclass(frozen=True, slots=True)
class HandlerPlan:
    """What registration learned about a handler, and how to call it."""

    func: Callable[..., Any]
    #: Takes a message, returns the handler's result. Raises DecodeError for bad bodies.
    call: Callable[[KafkaMessage], Awaitable[Any]]
    #: The annotation of the body (a synthesised model for several body parameters).
    body_type: Any
    return_type: Any


def compile_handler(func: Callable[..., Any]) -> HandlerPlan:
    """Analyse ``func``'s signature once and build its call plan."""
    # Imported here: the kafka package imports this module while it initialises.
    from topicflow.kafka.message import KafkaMessage

    if not callable(func):
        raise SetupError(f"a handler must be a function, got {func!r}")
    try:
        hints = get_type_hints(func, include_extras=True)
    except (NameError, TypeError) as exc:
        raise SetupError(
            f"cannot read the type annotations of {_name(func)}: {exc}. Import the "
            "names used in its annotations at module level."
        ) from exc
    signature = inspect.signature(func)
    message_params: list[str] = []
    body_params: list[tuple[str, Any, Any]] = []
    for param in signature.parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise SetupError(
                f"{_name(func)} takes *{param.name}; handlers need named parameters, "
                "each with a type annotation"
            )
        annotation = hints.get(param.name, Any)
        if isinstance(annotation, type) and issubclass(annotation, KafkaMessage):
            message_params.append(param.name)
            continue
        default = ... if param.default is param.empty else param.default
        body_params.append((param.name, annotation, default))

    call_func = _as_async(func)
    return_type = hints.get("return", Any)

    if not body_params:
        body_type: Any = None
        build_body: Callable[[KafkaMessage], dict[str, Any]] = _no_body
    elif len(body_params) == 1:
        name, body_type, _ = body_params[0]
        extract = _extractor(body_type)

        def build_body(msg: KafkaMessage) -> dict[str, Any]:
            return {name: extract(msg)}

    else:
        body_type = create_model(  # type: ignore[call-overload]
            f"{_name(func)}_body",
            __config__=ConfigDict(arbitrary_types_allowed=True),
            **{name: (tp, default) for name, tp, default in body_params},
        )
        extract_model = _extractor(body_type)
        names = [name for name, _, _ in body_params]

        def build_body(msg: KafkaMessage) -> dict[str, Any]:
            model = extract_model(msg)
            return {field: getattr(model, field) for field in names}

    if not message_params and len(body_params) == 1:
        # The common case, kept to one function call and one validation.
        only = extract

        async def call(msg: KafkaMessage) -> Any:
            try:
                value = only(msg)
            except (ValidationError, UnicodeDecodeError) as exc:
                raise _decode_error(msg, exc) from exc
            return await call_func(value)

    else:

        async def call(msg: KafkaMessage) -> Any:
            try:
                kwargs = build_body(msg)
            except (ValidationError, UnicodeDecodeError) as exc:
                raise _decode_error(msg, exc) from exc
            for param_name in message_params:
                kwargs[param_name] = msg
            return await call_func(**kwargs)

    return HandlerPlan(func=func, call=call, body_type=body_type, return_type=return_type)


def _no_body(msg: KafkaMessage) -> dict[str, Any]:
    return {}


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
            if value is None:
                return validate_python(None)
            if is_json(msg.content_type):
                return validate_json(value)
            return value.decode()

        return extract_text

    def extract(msg: KafkaMessage) -> Any:
        value = msg.raw_message.value
        if value is None:
            return validate_python(None)
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
