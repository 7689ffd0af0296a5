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

__all__ = ["Context", "Depends", "Header", "NoCast", "Path"]

_T = TypeVar("_T")

_REQUIRED: Any = ...


@dataclass(frozen=True, slots=True)
class Marker:
    """Base of the parameter markers."""

    name: str | None = None
    default: Any = _REQUIRED


class PathMarker(Marker):
    """What :func:`Path` returns."""

    __slots__ = ()


class HeaderMarker(Marker):
    """What :func:`Header` returns."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class ContextMarker(Marker):
    """What :func:`Context` returns."""

    #: Validate (and convert) the value to the parameter's annotation.
    cast: bool = False


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


def Path(name: str | None = None, *, default: Any = _REQUIRED) -> Any:
    """A ``{name}`` placeholder of the subscriber's ``pattern=``, matched in the topic."""
    return PathMarker(name, default)


def Header(name: str | None = None, *, default: Any = _REQUIRED) -> Any:
    """A record header, validated to the parameter's type. Missing and no default: poison."""
    return HeaderMarker(name, default)


def Context(name: str | None = None, *, default: Any = _REQUIRED, cast: bool = False) -> Any:
    """A value of the broker's context: ``"message"``, ``"broker"``, ``"logger"``,
    ``"app"``, ``"context"``, or one set with ``broker.context.set_global(name, value)``.
    Dotted names reach into it: ``Context("message.headers")``. Looked up per message:
    missing and no default, the message fails with ``LookupError``. With ``cast=True``
    the value is validated as the parameter's annotation (``"3"`` for ``int`` gives 3),
    as in FastStream; else it is passed as it is."""
    return ContextMarker(name, default, cast)


def Depends(dependency: Callable[..., Any], *, use_cache: bool = True) -> Any:
    """The result of ``dependency`` (a function, coroutine function or generator).

    Its own parameters are resolved like a handler's (``Context``, ``Header``,
    ``Path``, ``KafkaMessage``, other ``Depends``). With ``use_cache`` (the
    default) it runs once per message however many times it is used. A
    generator's code after ``yield`` runs after the handler, also when it raised.
    """
    return DependsMarker(dependency, use_cache)
