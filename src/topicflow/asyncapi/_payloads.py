"""Payload types -> JSON Schemas, with shared models under ``components/schemas``.

All payloads of an app are described in one pydantic pass
(``TypeAdapter.json_schemas``), so a model used by several handlers appears
once, and two different models that share a class name get distinct names
instead of overwriting each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import PydanticUserError, TypeAdapter

if TYPE_CHECKING:
    from collections.abc import Sequence

    from pydantic.json_schema import JsonSchemaMode

__all__ = ["REF_PREFIX", "UNKNOWN", "Payload", "PayloadSchema", "payload_schemas"]

#: Where payload ``$ref``s point: the document's reusable schemas.
REF_PREFIX = "#/components/schemas/"

#: The content type a body of this Python type is published with (see ``_codec``).
_CONTENT_TYPES: dict[Any, str] = {bytes: "application/octet-stream", str: "text/plain"}


class _Unknown:
    """Nothing is known about a payload (no annotation, ``Any``, no handler)."""

    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN: Any = _Unknown()


@dataclass(frozen=True, slots=True)
class Payload:
    """A payload to describe.

    Attributes:
        annotation: the Python type, or :data:`UNKNOWN`.
        mode: ``validation`` for what a handler accepts, ``serialization`` for
            what is published (they differ for computed fields, aliases, ...).
    """

    annotation: Any
    mode: JsonSchemaMode


@dataclass(frozen=True, slots=True)
class PayloadSchema:
    """The JSON Schema of one payload."""

    schema: dict[str, Any]
    #: The model's name when the whole payload is one model, else None.
    model: str | None
    content_type: str | None


def payload_schemas(
    payloads: Sequence[Payload],
) -> tuple[list[PayloadSchema], dict[str, Any]]:
    """Describe ``payloads``; returns their schemas (in order) and the shared model schemas."""
    results: list[PayloadSchema | None] = []
    inputs: list[tuple[int, JsonSchemaMode, TypeAdapter[Any]]] = []
    for index, payload in enumerate(payloads):
        annotation = payload.annotation
        if annotation is UNKNOWN or annotation is Any:
            results.append(PayloadSchema({}, None, None))
            continue
        try:
            adapter: TypeAdapter[Any] = TypeAdapter(annotation)
            # Tried alone first: one type pydantic cannot describe (a plain class,
            # a callable) must not take the whole document down with it.
            adapter.json_schema(mode=payload.mode)
        except (PydanticUserError, TypeError):
            name = getattr(annotation, "__name__", repr(annotation))
            results.append(
                PayloadSchema({"description": f"{name}: no JSON Schema for this type"}, None, None)
            )
            continue
        results.append(None)
        inputs.append((index, payload.mode, adapter))

    if not inputs:
        return [r for r in results if r is not None], {}
    schemas, definitions = TypeAdapter.json_schemas(inputs, ref_template=REF_PREFIX + "{model}")
    for index, mode, _adapter in inputs:
        schema = schemas[(index, mode)]
        ref = schema.get("$ref")
        model = ref[len(REF_PREFIX) :] if len(schema) == 1 and isinstance(ref, str) else None
        content_type = _CONTENT_TYPES.get(payloads[index].annotation)
        results[index] = PayloadSchema(schema, model, content_type)
    defs: dict[str, Any] = definitions.get("$defs", {})
    return [r for r in results if r is not None], defs
