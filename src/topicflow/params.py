"""Markers for handler parameters that do not come from the body.

Use them as defaults (``level: str = Path()``) or inside ``Annotated``
(``level: Annotated[str, Path()]``). Without a name, the parameter's own name
is used. They work in handlers and in dependencies alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["Context", "Depends", "Header", "NoCast", "Path", "UnderlyingDriverAnnotation"]

_T = TypeVar("_T")

_REQUIRED: Any = ...


@dataclass(frozen=True, slots=True)
class Marker:
    """Base of the parameter markers."""

    name: str | None = None
    default: Any = _REQUIRED
    #: Validate (and convert) the value to the parameter's annotation.
    cast: bool = True


class PathMarker(Marker):
    """What :func:`Path` returns."""

    __slots__ = ()


class HeaderMarker(Marker):
    """What :func:`Header` returns."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class ContextMarker(Marker):
    """What :func:`Context` returns."""

    cast: bool = False
    #: Makes the value when the context has none (then set as a global).
    initial: Callable[[], Any] | None = None


@dataclass(frozen=True, slots=True)
class NoCastMarker:
    """The mark of :data:`NoCast`: the parameter's annotation is not enforced."""


NoCast = Annotated[_T, NoCastMarker()]
"""``NoCast[int]`` (or ``Annotated[int, NoCast...]``): a parameter passed as decoded,
not validated or converted to its annotation (which stays for readers and type
checkers)."""


@dataclass(frozen=True, slots=True)
class DependsMarker:
    """What :func:`Depends` returns."""

    dependency: Callable[..., Any]
    use_cache: bool = True
    #: Validate the dependency's arguments to their annotations.
    cast: bool = True
    #: Validate its result to its return annotation.
    cast_result: bool = False


def Path(
    name: str | None = None,
    *,
    default: Any = _REQUIRED,
    cast: bool = True,
    real_name: str | None = None,
) -> Any:
    """A ``{name}`` placeholder of the subscriber's ``pattern=``, matched in the topic;
    with ``cast=False`` passed as the text it is. ``real_name`` is FastStream's
    keyword for ``name``."""
    return PathMarker(name or real_name, default, cast)


def Header(
    name: str | None = None,
    *,
    default: Any = _REQUIRED,
    cast: bool = True,
    real_name: str | None = None,
) -> Any:
    """A record header, validated to the parameter's type (with ``cast=False``: as it
    is). Missing and no default: poison. ``real_name`` is FastStream's keyword for
    ``name``."""
    return HeaderMarker(name or real_name, default, cast)


def Context(
    name: str | None = None,
    *,
    default: Any = _REQUIRED,
    cast: bool = False,
    initial: Callable[[], Any] | None = None,
    real_name: str | None = None,
) -> Any:
    """A value of the broker's context: ``"message"``, ``"broker"``, ``"logger"``,
    ``"app"``, ``"context"``, or one set with ``broker.context.set_global(name, value)``.
    Dotted names reach into it: ``Context("message.headers")``. Looked up per message:
    missing and no default, the message fails with ``LookupError``. With ``cast=True``
    the value is validated as the parameter's annotation (``"3"`` for ``int`` gives 3),
    as in FastStream; else it is passed as it is. ``initial``, when the context has no
    value yet, makes one and sets it as a global (``Context("seen", initial=set)``).
    ``real_name`` is FastStream's keyword for ``name``."""
    return ContextMarker(name or real_name, default, cast, initial)


def Depends(
    dependency: Callable[..., Any],
    *,
    use_cache: bool = True,
    cast: bool = True,
    cast_result: bool = False,
) -> Any:
    """The result of ``dependency`` (a function, coroutine function or generator).

    Its own parameters are resolved like a handler's (``Context``, ``Header``,
    ``Path``, ``KafkaMessage``, other ``Depends``). With ``use_cache`` (the
    default) it runs once per message however many times it is used. A
    generator's code after ``yield`` runs after the handler, also when it raised.
    ``cast=False``: its arguments are passed as found, not validated;
    ``cast_result=True``: its result is validated to its return annotation.
    """
    return DependsMarker(dependency, use_cache, cast, cast_result)


@dataclass(frozen=True, slots=True, kw_only=True)
class UnderlyingDriverAnnotation:
    """A class whose bare annotation on a handler parameter means an injected value.

    ``KafkaBroker(underlying_driver_annotations={MyClient: UnderlyingDriverAnnotation(
    type_hint=Annotated[MyClient, Context("client")], module="app.deps",
    name="Client")})``: a parameter annotated ``MyClient`` gets
    ``Context("client")``, as if annotated with ``app.deps.Client``. topicflow maps
    its own classes already: ``KafkaMessage``, ``KafkaBroker``, the producer, and
    aiokafka's ``AIOKafkaConsumer`` (see :mod:`topicflow.kafka.annotations`).

    Attributes:
        type_hint: the annotation that stands for the class.
        module: where that annotation can be imported from (for error messages).
        name: its name in that module.
    """

    type_hint: Any
    module: str
    name: str
