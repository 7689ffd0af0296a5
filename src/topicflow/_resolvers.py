"""Handler and dependency parameters, compiled into resolvers of their arguments.

Each parameter becomes an :class:`~topicflow._spec.Arg`. Lookups (the message,
a header, a ``Path`` placeholder, a context value, the body read by its type)
are plain functions of the message's state. A ``Depends`` is compiled into a
:class:`~topicflow._spec.Spec` of its own; its arg awaits only when its graph
calls an async function or async generator. A custom decoder is awaited once
per message by the bound call, before any argument is built (``topicflow._di``),
so body arguments never await.

Errors: input that does not fit raises DecodeError (a poison message); a
``Context`` without a value raises LookupError; a signature that cannot work
raises SetupError, at registration.
"""

from __future__ import annotations

import inspect
import logging
from typing import TYPE_CHECKING, Annotated, Any, get_args, get_origin, get_type_hints

from pydantic import TypeAdapter, ValidationError

from topicflow._body import BODY_ERRORS, decode_error, read_any, where
from topicflow._context import MISSING
from topicflow._spec import UNSET, Arg, solver, spec_of
from topicflow.exceptions import DecodeError, SetupError
from topicflow.params import (
    ContextMarker,
    DependsMarker,
    HeaderMarker,
    Marker,
    NoCastMarker,
    PathMarker,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

    from topicflow._body import Reader
    from topicflow._context import ContextRepo
    from topicflow._spec import Spec, State
    from topicflow.kafka.message import KafkaMessage

__all__ = [
    "body_arg",
    "compile_dependency",
    "model_args",
    "param_arg",
    "qualname",
    "register_driver",
    "register_marker",
    "signature_of",
    "split_annotation",
]

#: A class attribute that marks a message class (``KafkaMessage`` sets it): a
#: parameter annotated with such a class receives the message. A mark, not an
#: import, so that compiling handlers needs nothing of ``topicflow.kafka``.
MESSAGE_MARK = "__topicflow_message__"

#: Classes whose bare annotation stands for an injected value: class -> the
#: annotation it means (``register_driver``; ``underlying_driver_annotations=``).
DRIVERS: dict[type, Any] = {}


def register_driver(cls: type, type_hint: Any) -> None:
    """A parameter annotated with ``cls`` (or a subclass) is resolved as ``type_hint``."""
    DRIVERS[cls] = type_hint


#: Parameter markers of other libraries, by class: a function ``(name, annotation,
#: marker) -> Arg`` that builds the argument (``register_marker``; FastAPI's
#: ``Depends`` and ``Header``, registered by ``topicflow.kafka.fastapi``).
MARKERS: dict[type, Callable[[str, Any, Any], Arg]] = {}


def register_marker(cls: type, to_arg: Callable[[str, Any, Any], Arg]) -> None:
    """A parameter marked with an instance of ``cls`` (a default, or in ``Annotated``)
    is resolved by ``to_arg(name, annotation, marker)``, compiled at registration."""
    MARKERS[cls] = to_arg


def _foreign(marker: Any) -> Callable[[str, Any, Any], Arg] | None:
    for cls, to_arg in MARKERS.items():
        if isinstance(marker, cls):
            return to_arg
    return None


def _discarding() -> Callable[[Any], None]:
    """The call of one foreign dependency in ``dependencies=``, whose value is not used: a
    function of its own, as cached dependencies are told apart by their function."""

    def discard(value: Any) -> None:
        return None

    return discard


def _driver_hint(annotation: type) -> Any:
    for cls in getattr(annotation, "__mro__", (annotation,)):
        hint = DRIVERS.get(cls)
        if hint is not None:
            return hint
    return None


def compile_dependency(dependency: Any, localns: Mapping[str, Any] | None = None) -> Spec:
    """The spec of ``Depends(func)``, or of a bare function (``dependencies=[func]``).

    ``localns``: names its annotations may use besides its module's (see :func:`signature_of`).
    """
    if MARKERS and not isinstance(dependency, DependsMarker):
        to_arg = _foreign(dependency)
        if to_arg is not None:  # e.g. ``dependencies=[fastapi.Depends(check)]``
            return spec_of(_discarding(), [to_arg("value", Any, dependency)])
    marker = dependency if isinstance(dependency, DependsMarker) else DependsMarker(dependency)
    func = marker.dependency
    hints, params = signature_of(func, localns)
    args: list[Arg] = []
    for param in params:
        annotation, inner = split_annotation(hints.get(param.name, Any), param.default)
        if not marker.cast:  # Depends(cast=False): arguments passed as found
            annotation = Any
        arg = param_arg(param.name, annotation, inner, localns)
        if arg is None:
            default = ... if param.default is param.empty else param.default
            arg = _body_field_arg(param.name, annotation, default)
        args.append(arg)
    if marker.cast_result and hints.get("return", Any) is not Any:
        func = _casting_result(func, TypeAdapter(hints["return"]).validate_python)
    return spec_of(func, args)


def _casting_result(func: Callable[..., Any], validate: Callable[[Any], Any]) -> Any:
    """``func`` with its result validated (``Depends(cast_result=True)``)."""
    if inspect.isasyncgenfunction(func) or inspect.isgeneratorfunction(func):
        raise SetupError(
            f"Depends({qualname(func)}, cast_result=True): a generator's result cannot be "
            "validated; validate what it yields inside it, or drop cast_result"
        )
    if inspect.iscoroutinefunction(func):

        async def cast_async(*args: Any, **kwargs: Any) -> Any:
            return validate(await func(*args, **kwargs))

        return cast_async

    def cast_sync(*args: Any, **kwargs: Any) -> Any:
        return validate(func(*args, **kwargs))

    return cast_sync


# -- parameters ------------------------------------------------------------------


def param_arg(
    name: str, annotation: Any, marker: Any, localns: Mapping[str, Any] | None = None
) -> Arg | None:
    """How to get one parameter, or None for a body parameter."""
    if isinstance(annotation, type) and getattr(annotation, MESSAGE_MARK, False):
        return Arg(name, _the_message)
    if marker is None and isinstance(annotation, type) and issubclass(annotation, logging.Logger):
        # A logger is never a body field: ``logger: logging.Logger`` means the broker's.
        return Arg(name, _context_value("logger", None))
    if marker is None and isinstance(annotation, type) and DRIVERS:
        hint = _driver_hint(annotation)
        if hint is not None:  # e.g. ``broker: KafkaBroker``: the broker, not a body field
            base, marker = split_annotation(hint, inspect.Parameter.empty)
            if marker is not None:
                return param_arg(name, base, marker, localns)
    if MARKERS and marker is not None and not isinstance(marker, (Marker, DependsMarker)):
        to_arg = _foreign(marker)
        if to_arg is not None:
            return to_arg(name, annotation, marker)
    if isinstance(marker, DependsMarker):
        spec = compile_dependency(marker, localns)
        return Arg(
            name,
            solver(spec) if marker.use_cache else spec.invoke,
            awaits=spec.awaits,
            needs_stack=spec.needs_stack,
            reads_body=spec.reads_body,
        )
    if isinstance(marker, PathMarker):
        key = marker.name or name
        get = _lookup(lambda msg: msg.path.get(key, MISSING), annotation, marker, f"Path({key!r})")
        return Arg(name, get, path_name=key)
    if isinstance(marker, HeaderMarker):
        key = marker.name or name
        what = f"header {key!r}"
        return Arg(
            name, _lookup(lambda msg: msg.headers.get(key, MISSING), annotation, marker, what)
        )
    if isinstance(marker, ContextMarker):
        get = _context_value(marker.name or name, marker.default, marker.initial)
        if marker.cast and annotation is not Any:
            validate = TypeAdapter(annotation).validate_python

            def get_cast(state: State, get: Callable[[State], Any] = get) -> Any:
                return validate(get(state))

            return Arg(name, get_cast)
        return Arg(name, get)
    return None


def _the_message(state: State) -> Any:
    return state.msg


def _lookup(
    get: Callable[[KafkaMessage], Any], annotation: Any, marker: Marker, what: str
) -> Callable[[State], Any]:
    convert = _converter(annotation if marker.cast else Any)
    default = marker.default

    def lookup(state: State) -> Any:
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


def _context_value(
    key: str, default: Any, initial: Callable[[], Any] | None = None
) -> Callable[[State], Any]:
    if key == "message":
        return _the_message  # the message being handled is always there

    def context_value(state: State) -> Any:
        repo = state.context
        value = MISSING if repo is None else repo.lookup(key, state.msg)
        if value is MISSING:
            if initial is not None and repo is not None and "." not in key:
                value = initial()
                repo.set_global(key, value)
                return value
            if default is ...:
                raise _context_missing(key, repo, state.msg)
            return default
        return value

    return context_value


def _context_missing(key: str, repo: ContextRepo | None, msg: KafkaMessage) -> LookupError:
    # Not a SetupError: a global may be set after the broker started (on_startup hooks
    # run then under TestKafkaBroker + TestApp), so only the message can tell.
    head, _, rest = key.partition(".")
    fix = f"or give it a default: Context({key!r}, default=None)"
    if head == "message":
        reason = f"the message has no {rest!r}; use a KafkaMessage attribute, {fix}"
    elif repo is not None and repo.lookup(head, None) is not MISSING:
        reason = f"{head!r} has no {rest!r}; check the name, {fix}"
    else:
        reason = (
            f"nothing is set as {head!r}; call broker.context.set_global({head!r}, value) "
            f"before messages arrive (e.g. in an on_startup hook), {fix}"
        )
    return LookupError(f"{where(msg)}: Context({key!r}) has no value: {reason}")


def _body_field_arg(name: str, annotation: Any, default: Any) -> Arg:
    """A dependency parameter taken from the field of the same name in the body."""
    convert = _converter(annotation)

    def body_field(state: State) -> Any:
        msg = state.msg
        body = state.body
        if body is UNSET:
            try:
                body = state.body = read_any(msg.raw_message)
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

    return Arg(name, body_field, reads_body=True)


def body_arg(name: str, annotation: Any, read: Reader) -> Arg:
    """The body parameter: read from the record, or validated from the decoder's result."""
    return Arg(name, _body_getter(annotation, read), reads_body=True)


def model_args(names: Iterable[str], model: Any, read: Reader) -> list[Arg]:
    """Several body parameters: the fields of one model, validated once per message."""
    get_model = _body_getter(model, read)

    def model_of(state: State) -> Any:
        value = state.model
        if value is UNSET:
            value = state.model = get_model(state)
        return value

    def field_of(name: str) -> Callable[[State], Any]:
        return lambda state: getattr(model_of(state), name)

    return [Arg(name, field_of(name), reads_body=True) for name in names]


def _body_getter(annotation: Any, read: Reader) -> Callable[[State], Any]:
    validate = None if annotation in (Any, bytes) else TypeAdapter(annotation).validate_python

    def body(state: State) -> Any:
        msg = state.msg
        try:
            decoded = state.decoded
            if decoded is UNSET:
                return read(msg.raw_message)
            return decoded if validate is None else validate(decoded)
        except BODY_ERRORS as exc:
            raise decode_error(msg, exc) from exc

    return body


# -- signatures ------------------------------------------------------------------


def signature_of(
    func: Callable[..., Any], localns: Mapping[str, Any] | None = None
) -> tuple[dict[str, Any], list[inspect.Parameter]]:
    """The type hints and parameters of a handler or dependency; SetupError if unusable.

    Annotations are read in the function's module first. A name missing there
    (a class defined inside a function, under ``from __future__ import
    annotations``) is then looked up among the function's closure variables and
    ``localns``, the locals of the frame that registered it.
    """
    if not callable(func):
        raise SetupError(f"a handler must be a function, got {func!r}")
    try:
        try:
            hints = get_type_hints(func, include_extras=True)
        except NameError:
            hints = get_type_hints(func, localns=_names_around(func, localns), include_extras=True)
    except (NameError, TypeError) as exc:
        raise SetupError(
            f"cannot read the type annotations of {qualname(func)}: {exc}. Import the "
            "names used in its annotations at module level."
        ) from exc
    params = list(inspect.signature(func).parameters.values())
    for param in params:
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise SetupError(
                f"{qualname(func)} takes *{param.name}; handlers need named parameters, "
                "each with a type annotation"
            )
    return hints, params


def _names_around(func: Any, localns: Mapping[str, Any] | None) -> dict[str, Any]:
    """Names visible where ``func`` was defined but not in its module: its closure's
    variables, then the registering frame's locals."""
    names: dict[str, Any] = {}
    code = getattr(func, "__code__", None)
    for name, cell in zip(
        getattr(code, "co_freevars", ()), getattr(func, "__closure__", None) or (), strict=False
    ):
        try:
            names[name] = cell.cell_contents
        except ValueError:  # a cell not filled yet
            continue
    if localns:
        names.update(localns)
    return names


def split_annotation(annotation: Any, default: Any) -> tuple[Any, Any]:
    """The plain type and the marker (from ``Annotated[...]`` or the default), if any."""
    markers = (Marker, DependsMarker, *MARKERS)
    if get_origin(annotation) is Annotated:
        base, *extras = get_args(annotation)
        if any(isinstance(extra, NoCastMarker) for extra in extras):
            base = Any
        for extra in extras:
            if isinstance(extra, markers):
                return base, extra
        annotation = base
    if isinstance(default, markers):
        return annotation, default
    return annotation, None


def qualname(func: Any) -> str:
    """How errors name a function."""
    return getattr(func, "__qualname__", repr(func))


def _converter(annotation: Any) -> Callable[[Any], Any]:
    if annotation in (Any, inspect.Parameter.empty):
        return lambda value: value
    return TypeAdapter(annotation).validate_python
