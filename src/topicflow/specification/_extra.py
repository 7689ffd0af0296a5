"""The descriptive objects of an AsyncAPI document: contact, license, tags, links.

Each can also be given as a plain mapping with the same keys (``{"name": "MIT"}``);
:func:`jsonable` turns either form into the document's own (camelCase) fields.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Required, TypedDict

from topicflow.exceptions import SetupError

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "Contact",
    "ContactDict",
    "ExternalDocs",
    "ExternalDocsDict",
    "License",
    "LicenseDict",
    "Tag",
    "TagDict",
    "jsonable",
]


class ContactDict(TypedDict, total=False):
    name: Required[str]
    url: str
    email: str


class LicenseDict(TypedDict, total=False):
    name: Required[str]
    url: str


class ExternalDocsDict(TypedDict, total=False):
    url: Required[str]
    description: str


class TagDict(TypedDict, total=False):
    name: Required[str]
    description: str
    external_docs: ExternalDocs | ExternalDocsDict


@dataclass(frozen=True, slots=True)
class Contact:
    """Who answers questions about the service (``info.contact``)."""

    name: str
    url: str | None = None
    email: str | None = None


@dataclass(frozen=True, slots=True)
class License:
    """The license the API is offered under (``info.license``)."""

    name: str
    url: str | None = None


@dataclass(frozen=True, slots=True)
class ExternalDocs:
    """A link to documentation kept elsewhere (``externalDocs``)."""

    url: str
    description: str | None = None


@dataclass(frozen=True, slots=True)
class Tag:
    """A label that groups things in the document (``tags``)."""

    name: str
    description: str | None = None
    external_docs: ExternalDocs | ExternalDocsDict | None = None


#: Field names of the Python objects -> the document's names.
_CAMEL = {"external_docs": "externalDocs"}
#: The field each kind cannot do without.
_REQUIRED = {"contact": "name", "license": "name", "external_docs": "url", "tag": "name"}


def jsonable(kind: str, value: object) -> dict[str, Any]:
    """``value`` (one of the dataclasses above, a mapping, or for a tag a plain name) as
    the document's mapping, empty fields left out.

    Raises :class:`SetupError` naming ``kind`` when the required field is missing.
    """
    if kind == "tag" and isinstance(value, str):
        return {"name": value}
    fields: Mapping[str, Any]
    if isinstance(value, Contact | License | ExternalDocs | Tag):
        fields = {name: getattr(value, name) for name in value.__dataclass_fields__}
    elif isinstance(value, dict):
        fields = value
    else:
        raise SetupError(
            f"{kind} {value!r} is a {type(value).__name__}; give a {kind.title().replace('_', '')}"
            "(...) or a mapping"
        )
    required = _REQUIRED[kind]
    if not fields.get(required) and not fields.get(_CAMEL.get(required, required)):
        raise SetupError(f"{kind} {value!r} has no {required!r}; it is required")
    out: dict[str, Any] = {}
    for name, item in fields.items():
        if item is None or item == "":
            continue
        if name in ("external_docs", "externalDocs"):
            item = jsonable("external_docs", item)
        out[_CAMEL.get(name, name)] = str(item) if not isinstance(item, dict) else item
    return out
