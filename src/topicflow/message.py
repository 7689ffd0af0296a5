"""FastStream's message names: :class:`StreamMessage`, :class:`AckStatus`,
:class:`SourceType`, and the codec functions ``encode_message``,
``decode_message`` and ``gen_cor_id``.

``topicflow.kafka.KafkaMessage`` is the message topicflow hands to handlers and
middlewares; it is a :class:`StreamMessage`, so signatures written for
FastStream (``msg: StreamMessage[Any]`` in a middleware's ``consume_scope``)
keep their meaning. ``msg.committed`` tells, as an :class:`AckStatus`, what was
decided for it.
"""

from __future__ import annotations

import enum
import uuid
from typing import Any, Generic, TypeVar

from topicflow._codec import decode_body, encode_body

__all__ = [
    "AckStatus",
    "SourceType",
    "StreamMessage",
    "decode_message",
    "encode_message",
    "gen_cor_id",
]

Raw = TypeVar("Raw")


class AckStatus(enum.StrEnum):
    """What was decided for a message: acked, nacked (delivered again) or rejected."""

    ACKED = "ACKED"
    NACKED = "NACKED"
    REJECTED = "REJECTED"


class SourceType(enum.StrEnum):
    """Where a message came from: consumed from a topic, or the reply to a request."""

    CONSUME = "CONSUME"
    RESPONSE = "RESPONSE"


def gen_cor_id() -> str:
    """A new correlation id (32 hex digits)."""
    return uuid.uuid4().hex


def encode_message(msg: Any, serializer: None = None) -> tuple[bytes, str | None]:
    """The record value and content type topicflow publishes for ``msg`` (``b""`` for
    None): bytes as they are, ``str`` as UTF-8 text, anything else as JSON.

    ``serializer`` is FastStream's hook for another JSON library; topicflow has
    one codec (pydantic's), so only None is accepted.
    """
    if serializer is not None:
        raise TypeError("encode_message(serializer=...) is not supported: topicflow uses pydantic")
    value, content_type = encode_body(msg)
    return (b"" if value is None else value), content_type


def decode_message(message: StreamMessage[Any]) -> Any:
    """``message``'s body decoded by its content type: JSON values, ``str`` for text,
    else the bytes."""
    body: bytes | None = getattr(message, "body", None)
    return decode_body(body, getattr(message, "content_type", None))


class StreamMessage(Generic[Raw]):
    """The base of the messages handlers receive; ``Raw`` is the client's record type."""

    __slots__ = ()
