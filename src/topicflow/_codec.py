"""Bodies on the wire: how Python values become record bytes and back.

The format is the one FastStream services use, so the two can share topics:

========================  =====================  ==================
Python value              record value           ``content-type``
========================  =====================  ==================
``bytes``                 as is                  (none)
``str``                   UTF-8                  ``text/plain``
model, dataclass, dict,   JSON                   ``application/json``
list, number, ...
``None``                  no value (tombstone)   (none)
========================  =====================  ==================
"""

from __future__ import annotations

from typing import Any

import pydantic_core
from pydantic import BaseModel

__all__ = ["JSON", "TEXT", "decode_body", "encode_body", "encode_key", "is_json", "is_text"]

JSON = "application/json"
TEXT = "text/plain"


_BINARY = (bytearray, memoryview)


def encode_body(body: Any) -> tuple[bytes | None, str | None]:
    """Return the record value for ``body`` and its content type."""
    if body is None:
        return None, None
    # Exact types first: isinstance() against BaseModel goes through ABCMeta.
    cls = type(body)
    if cls is bytes:
        return body, None
    if cls is str:
        return body.encode(), TEXT
    if isinstance(body, BaseModel):
        return body.__pydantic_serializer__.to_json(body), JSON
    if isinstance(body, bytes):
        return body, None
    if isinstance(body, str):
        return body.encode(), TEXT
    if isinstance(body, _BINARY):
        return bytes(body), None
    return pydantic_core.to_json(body), JSON


def encode_key(key: Any) -> bytes | None:
    """Record keys: bytes as is, str as UTF-8, anything else as its JSON text."""
    if key is None or isinstance(key, bytes):
        return key
    if isinstance(key, str):
        return key.encode()
    value, _ = encode_body(key)
    return value


def is_json(content_type: str | None) -> bool:
    """True for ``application/json`` and ``application/*+json``."""
    return content_type is not None and (
        content_type.startswith(JSON) or content_type.split(";", 1)[0].endswith("+json")
    )


def is_text(content_type: str | None) -> bool:
    """True for ``text/*`` content types."""
    return content_type is not None and content_type.startswith("text/")


def decode_body(body: bytes | None, content_type: str | None) -> Any:
    """The default decoder: JSON to Python values, text to ``str``, the rest stays bytes."""
    if body is None:
        return None
    if is_json(content_type):
        return pydantic_core.from_json(body)
    if is_text(content_type):
        return body.decode()
    return body
