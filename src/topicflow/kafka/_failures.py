"""What an exception out of a pipeline means for its message, and its log lines.

:class:`Failures` turns what a handler raised into an :class:`~topicflow.ack.Outcome`:
poison (a body that cannot be read), a handler's decision (``AckMessage``,
``NackMessage``, ``RejectMessage``, ``SkipMessage``), a request to stop
(``StopConsume``; ``SystemExit`` and ``StopApplication`` stop the app too), or the
policy's error outcome; and writes the access-log line of each message.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from topicflow.ack import ON_ERROR, AckPolicy, Outcome
from topicflow.exceptions import (
    AckMessage,
    DecodeError,
    NackMessage,
    RejectMessage,
    SkipMessage,
    StopConsume,
)
from topicflow.kafka._transport import TopicPartition

if TYPE_CHECKING:
    from collections.abc import Callable

    from topicflow.kafka._watch import ConsumerWatch
    from topicflow.kafka.message import KafkaMessage

__all__ = ["HANDLED", "Failures", "failure_of", "forget_failure", "record_failure"]

#: What the consume path catches from a handler: its errors, and ``SystemExit``
#: (``sys.exit()``, ``StopApplication``), which stops the app instead of the task.
HANDLED = (Exception, SystemExit)
#: Key in ``msg.scratch`` of the exception that ended a message's handling.
_FAILURE = "topicflow.failure"


def failure_of(msg: KafkaMessage) -> BaseException | None:
    """The exception that ended ``msg``'s handling (after its pipeline), if one did."""
    return msg.scratch.get(_FAILURE)


def record_failure(msg: KafkaMessage, exc: BaseException) -> None:
    """Remember ``exc`` as what ended ``msg``'s handling (see :func:`failure_of`)."""
    msg.scratch[_FAILURE] = exc


def forget_failure(msg: KafkaMessage) -> None:
    """``msg``'s failure was dealt with (retried, dead-lettered): not one to raise."""
    msg.scratch.pop(_FAILURE, None)


class Failures:
    """What an exception out of a pipeline means for its message, and its log lines."""

    def __init__(
        self,
        owner: str,
        policy: AckPolicy,
        logger: logging.Logger | None,
        access_level: int | None,
        group_id: str | None,
        watch: ConsumerWatch | None = None,
    ) -> None:
        self.owner = owner
        self.policy = policy
        self.logger = logger
        self.access_level = access_level
        self.group_id = group_id
        #: Told of each poison message rejected (``topicflow.kafka._watch``), if anything is.
        self.watch = watch
        #: The outcome of a message whose handling raised nothing and decided nothing.
        self.done = Outcome.PENDING if policy is AckPolicy.MANUAL else Outcome.ACK
        #: Called when a handler raised ``StopConsume`` or ``SystemExit`` (set by the
        #: subscriber: it stops, and the app too for ``SystemExit``).
        self.stop: Callable[[BaseException], None] | None = None

    def outcome(self, exc: BaseException, msg: KafkaMessage, handler_name: str) -> Outcome:
        """The outcome of a message whose handling raised ``exc`` (logged here)."""
        msg.scratch[_FAILURE] = exc
        steered = self._steered(exc)
        if steered is not None:
            if steered is Outcome.POISON and self.watch is not None:
                record = msg.raw_message
                self.watch.poisoned(TopicPartition(record.topic, record.partition))
            return steered
        self.log(logging.ERROR, "%s failed on %s: %r", handler_name, msg.message_id, exc, exc=exc)
        status = msg.status
        return status if status is not None else ON_ERROR[self.policy]

    def batch_outcome(self, exc: BaseException, size: int, handler_name: str) -> Outcome:
        """The outcome of a batch whose handling raised ``exc`` (logged here)."""
        steered = self._steered(exc)
        if steered is not None:
            return steered
        self.log(logging.ERROR, "%s failed on %d messages: %r", handler_name, size, exc, exc=exc)
        return ON_ERROR[self.policy]

    def _steered(self, exc: BaseException) -> Outcome | None:
        """The outcome that ``exc`` decides by itself: poison, a handler's decision, or a
        request to stop (the message counts as handled; what follows it is not)."""
        if isinstance(exc, StopConsume | SystemExit):
            self.log(logging.INFO, "%s stops: its handler raised %r", self.owner, exc)
            if self.stop is not None:
                self.stop(exc)
            return Outcome.ACK
        if isinstance(exc, DecodeError):
            self.log(logging.ERROR, "poison message rejected, moving on: %s", exc)
            return Outcome.POISON
        if isinstance(exc, AckMessage):
            return Outcome.ACK
        if isinstance(exc, NackMessage):
            return Outcome.NACK
        if isinstance(exc, RejectMessage):
            return Outcome.REJECT
        if isinstance(exc, SkipMessage):
            return Outcome.SKIP
        return None

    def access(self, msg: KafkaMessage, outcome: Outcome) -> None:
        """One access-log line: where the message was, its group and correlation id, and
        what became of it."""
        assert self.logger is not None
        assert self.access_level is not None
        record = msg.raw_message
        self.logger.log(
            self.access_level,
            "%s-%d-%d group=%s correlation_id=%s: %s",
            record.topic,
            record.partition,
            record.offset,
            self.group_id,
            msg.header("correlation_id"),  # as received: the line is written even for poison
            "acked first"
            if self.policy is AckPolicy.ACK_FIRST
            # Handled; finished once the cluster confirms what its handler published.
            else "acked"
            if msg.unconfirmed
            else outcome,
        )

    def log(self, level: int, text: str, *args: Any, exc: BaseException | None = None) -> None:
        if self.logger is not None:
            self.logger.log(level, text, *args, exc_info=exc)
