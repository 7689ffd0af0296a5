"""FastStream's message names: :class:`StreamMessage` and :class:`AckStatus`.

``topicflow.kafka.KafkaMessage`` is the message topicflow hands to handlers and
middlewares; it is a :class:`StreamMessage`, so signatures written for
FastStream (``msg: StreamMessage[Any]`` in a middleware's ``consume_scope``)
keep their meaning. ``msg.committed`` tells, as an :class:`AckStatus`, what was
decided for it.
"""

from __future__ import annotations

import enum
from typing import Generic, TypeVar

__all__ = ["AckStatus", "StreamMessage"]

Raw = TypeVar("Raw")


class AckStatus(enum.StrEnum):
    """What was decided for a message: acked, nacked (delivered again) or rejected."""

    ACKED = "ACKED"
    NACKED = "NACKED"
    REJECTED = "REJECTED"


class StreamMessage(Generic[Raw]):
    """The base of the messages handlers receive; ``Raw`` is the client's record type."""

    __slots__ = ()
