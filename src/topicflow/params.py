"""Markers for handler parameters that do not come from the body.

Use them as defaults (``level: str = Path()``) or inside ``Annotated``
(``level: Annotated[str, Path()]``). Without a name, the parameter's own name
is used.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["Header", "Path"]

_REQUIRED: Any = ...


@dataclass(frozen=True, slots=True)
class _Marker:
    name: str | None = None
    default: Any = _REQUIRED


def Path(name: str | None = None, *, default: Any = _REQUIRED) -> Any:
    """A ``{name}`` placeholder of the subscriber's ``pattern=``, matched in the topic."""
    return PathMarker(name, default)


def Header(name: str | None = None, *, default: Any = _REQUIRED) -> Any:
    """A record header, validated to the parameter's type. Missing and no default: poison."""
    return HeaderMarker(name, default)


class PathMarker(_Marker):
    """What :func:`Path` returns."""

    __slots__ = ()


class HeaderMarker(_Marker):
    """What :func:`Header` returns."""

    __slots__ = ()
