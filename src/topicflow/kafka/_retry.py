"""Non-blocking retries and the dead-letter topic: where a failed message goes next.

``subscriber(..., retry=Retry(delays=(1.0, 10.0)), dead_letter="orders.dlq")``
gives the subscriber a :class:`Retrier`, built at start (``Subscriber.bind``). It
wraps the subscriber's pipeline (a subscriber without ``retry=`` and
``dead_letter=`` has no such layer, so its consume path is unchanged): when the
handler raised (not a decision such as ``NackMessage``), the record is written
to the retry topic of its next attempt, or at the end to the dead-letter topic,
and the message counts as finished only once the cluster confirmed that write;
if the write fails, the message is nacked (redelivered in place after the
backoff), so a crash or an outage in between loses nothing.

Retry topics are named ``<topic>.<group_id>.retry-<n>`` (``n`` from 1, one per
delay), so two groups consuming the same topic never share them. A retry record
carries its due time in the ``topicflow-retry-due`` header (milliseconds since
the epoch); the subscriber's retry consumer (``kafka/_retry_loop.py``) hands it
to the handler no earlier than that.

``Retry(..., blocking=True)`` keeps per-partition order instead: the message is
nacked in place with the retry delays as its backoff, then dead-lettered.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from typing import TYPE_CHECKING, Any

from topicflow.ack import AckPolicy, Outcome
from topicflow.exceptions import DecodeError, IgnoredException, SetupError, SubscriberNotFound
from topicflow.kafka._failures import failure_of, forget_failure
from topicflow.kafka._transport import TopicPartition
from topicflow.kafka.topic import Topic, topic_name_problem

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping, Sequence

    from topicflow.kafka._failures import Failures
    from topicflow.kafka._options import SubscriberConfig
    from topicflow.kafka._runtime import Runtime
    from topicflow.kafka._seam import Transport
    from topicflow.kafka._transport import ConsumerRecord
    from topicflow.kafka.message import KafkaMessage

    Pipeline = Callable[[KafkaMessage], Awaitable[Outcome]]

__all__ = [
    "ATTEMPTS",
    "DUE",
    "EXCEPTION_MESSAGE",
    "EXCEPTION_TYPE",
    "ORIGINAL_OFFSET",
    "ORIGINAL_PARTITION",
    "ORIGINAL_TOPIC",
    "Retrier",
    "Retry",
    "check_retry",
    "due_of",
    "retry_topic",
]

ORIGINAL_TOPIC = "topicflow-original-topic"
ORIGINAL_PARTITION = "topicflow-original-partition"
ORIGINAL_OFFSET = "topicflow-original-offset"
ATTEMPTS = "topicflow-attempts"
EXCEPTION_TYPE = "topicflow-exception-type"
EXCEPTION_MESSAGE = "topicflow-exception-message"
#: When a retry record may be handled: milliseconds since the epoch.
DUE = "topicflow-retry-due"
#: The headers this module writes; dropped from what it copies, and by ``dlq replay``.
OWN_PREFIX = "topicflow-"
#: Characters of the exception's text kept in ``topicflow-exception-message``.
MESSAGE_LIMIT = 1000

#: Exceptions that are not failures: a handler's decisions (AckMessage, NackMessage,
#: RejectMessage, SkipMessage, StopConsume) and no handler accepting the message.
_NOT_FAILURES = (IgnoredException, SubscriberNotFound)


@dataclasses.dataclass(frozen=True, slots=True)
class Retry:
    """How a subscriber retries a message whose handler raised.

    Args:
        delays: seconds to wait before each retry; one retry per delay, so a
            message that always fails is handled ``1 + len(delays)`` times.
        blocking: False (the default): each retry waits on a retry topic while
            the partition goes on (per-key order is broken for the failed key).
            True: the message is redelivered in place after each delay (its
            partition waits, order is kept), then dead-lettered.
    """

    delays: Sequence[float]
    blocking: bool = False

    def __post_init__(self) -> None:
        delays = tuple(float(d) for d in self.delays)
        if not delays:
            raise SetupError("Retry(delays=...) needs at least one delay, e.g. (1.0, 10.0)")
        bad = [d for d in delays if not math.isfinite(d) or d < 0]
        if bad:
            raise SetupError(f"Retry(delays=...): each delay is seconds >= 0, got {bad[0]!r}")
        object.__setattr__(self, "delays", delays)


def retry_topic(topic: str, group_id: str, attempt: int) -> str:
    """The retry topic of ``topic``'s ``attempt``-th retry for ``group_id`` (from 1)."""
    return f"{topic}.{group_id}.retry-{attempt}"


def check_retry(config: SubscriberConfig) -> None:
    """A SetupError naming the fix for ``retry=``/``dead_letter=`` where they cannot work."""
    retry, dead_letter = config.retry, config.dead_letter
    if retry is None and dead_letter is None:
        return
    what = f"subscriber({', '.join(map(repr, config.topics))})"
    if retry is not None and not isinstance(retry, Retry):
        raise SetupError(f"{what}: retry= takes a Retry(delays=(...)), got {retry!r}")
    if dead_letter is not None:
        if not isinstance(dead_letter, str):
            raise SetupError(f"{what}: dead_letter= takes a topic name or a Topic")
        problem = topic_name_problem(dead_letter)
        if problem is not None:
            raise SetupError(f"{what}: dead_letter={dead_letter!r}: {problem}")
        if dead_letter in config.topics:
            raise SetupError(f"{what}: dead_letter= must be another topic than the consumed one")
    if config.batch:
        raise SetupError(
            f"{what}: retry= and dead_letter= work on single messages, not batch=True; "
            "drop batch=True, or retry inside the batch handler"
        )
    if retry is None or retry.blocking:
        return
    if config.pattern is not None or config.partitions:
        raise SetupError(
            f"{what}: retry= needs named topics (its retry topics are named after them); "
            "list the topics instead of pattern=/partitions=, or use Retry(..., blocking=True)"
        )
    if config.group_id is None:
        raise SetupError(
            f"{what}: retry= needs a group_id: the retry topics are named after the group "
            "and consumed by it; add group_id=..., or use Retry(..., blocking=True)"
        )
    if config.ack_policy is AckPolicy.ACK_FIRST:
        raise SetupError(
            f"{what}: retry= with ack_policy=ACK_FIRST would finish a message before its "
            "retry is written; use AckPolicy.ACK (the default)"
        )
    for topic in config.topics:
        for attempt in range(1, len(retry.delays) + 1):
            problem = topic_name_problem(retry_topic(topic, config.group_id, attempt))
            if problem is not None:
                raise SetupError(f"{what}: its retry topics cannot be named: {problem}")


def due_of(record: ConsumerRecord[bytes, bytes]) -> float:
    """When a retry record may be handled (seconds since the epoch; 0 without the header)."""
    for name, value in record.headers:
        if name == DUE:
            try:
                return int(value) / 1000
            except ValueError:
                return 0.0
    return 0.0


def _header(record: ConsumerRecord[bytes, bytes], name: str) -> bytes | None:
    for key, value in record.headers:
        if key == name:
            return value
    return None


class _Delays:
    """The retry delays as a nack backoff (blocking mode): delay ``i``, then the last."""

    __slots__ = ("delays",)

    def __init__(self, delays: tuple[float, ...]) -> None:
        self.delays = delays

    def delay(self, attempt: int) -> float:
        return self.delays[min(attempt, len(self.delays) - 1)]


class Retrier:
    """A subscriber's retry topics and dead-letter topic, and the pipeline layer that
    writes failed records to them."""

    def __init__(
        self,
        config: SubscriberConfig,
        topics: Sequence[str],
        prefix: str,
        runtime: Runtime,
        failures: Failures,
    ) -> None:
        self.retry: Retry | None = config.retry
        dead_letter = config.dead_letter
        if dead_letter is not None:  # a router's prefix goes in front, as for its topics
            dead_letter = (
                dead_letter.renamed(prefix + dead_letter)
                if isinstance(dead_letter, Topic)
                else prefix + dead_letter
            )
        self.dead_letter: str | None = dead_letter
        self._transport = runtime.transport
        self._logger = runtime.logger
        self._owner = failures.owner
        #: Told of each retry and dead letter (metrics), if anything watches.
        self._watch = failures.watch
        delays: tuple[float, ...] = tuple(self.retry.delays) if self.retry else ()
        self.delays = delays
        self.blocking = self.retry is not None and self.retry.blocking
        #: The nack backoff of the subscriber's consumers: the delays in blocking mode.
        self.nack_backoff: Any = _Delays(delays) if self.blocking else runtime.nack_backoff
        #: Main topic -> its retry topics, in attempt order (empty in blocking mode).
        self.retry_topics: dict[str, tuple[str, ...]] = {}
        #: Retry topic -> (main topic, the attempt it carries, from 1).
        self._origin: dict[str, tuple[str, int]] = {}
        group = config.group_id
        if self.retry is not None and not self.blocking and group is not None:
            for topic in topics:
                names = tuple(retry_topic(topic, group, n) for n in range(1, len(delays) + 1))
                self.retry_topics[topic] = names
                for n, name in enumerate(names, 1):
                    self._origin[name] = (topic, n)
        #: Blocking mode: failures so far of the messages being redelivered in place.
        self._failures: dict[tuple[str, int, int], int] = {}
        self._declarations = self._declare(config.topics, topics, dead_letter)

    @property
    def consumes(self) -> tuple[str, ...]:
        """The retry topics its retry consumer reads (none in blocking mode)."""
        return tuple(self._origin)

    def options(self, consumer: Mapping[str, Any]) -> dict[str, Any]:
        """The retry consumer's settings: the subscriber's, but from the earliest record
        (every record of a retry topic is the group's: with "latest", a partition the group
        has not committed yet would skip the retries written before it was assigned), and
        with a static member id of its own (one ``group_instance_id`` on two members fences
        one of them)."""
        options = {**consumer, "auto_offset_reset": "earliest"}
        if options.get("group_instance_id"):
            options["group_instance_id"] = f"{options['group_instance_id']}-retries"
        return options

    def _declare(
        self, declared: Sequence[str], topics: Sequence[str], dead_letter: str | None
    ) -> list[Topic]:
        """The retry topics (with their main topic's partitions and replication when it is
        a ``Topic``, not its configuration: compaction or a short retention there would
        drop retries) and the dead-letter topic, created at start."""
        made: list[Topic] = []
        for given, real in zip(declared, topics, strict=True):
            like = given if isinstance(given, Topic) else Topic(real)
            shape = (like.num_partitions, like.replication_factor)
            made.extend(Topic(name, *shape) for name in self.retry_topics.get(real, ()))
        if dead_letter is not None:
            topic = dead_letter if isinstance(dead_letter, Topic) else Topic(dead_letter)
            if topic.declare:
                made.append(topic)
        return made

    async def declare(self, transport: Transport) -> None:
        """Create its topics that do not exist yet (at the subscriber's start)."""
        if self._declarations:
            await transport.create_topics(self._declarations)

    def wrap(self, pipeline: Pipeline) -> Pipeline:
        """The subscriber's pipeline, with failed messages sent on to retry or dead letter."""
        route = self._route

        async def retrying(msg: KafkaMessage) -> Outcome:
            outcome = await pipeline(msg)
            exc = failure_of(msg)
            if (
                exc is None
                or not isinstance(exc, Exception)
                or isinstance(exc, _NOT_FAILURES)
                or msg.status is not None  # decided by the handler before it raised
            ):
                if self._failures:
                    record = msg.raw_message
                    self._failures.pop((record.topic, record.partition, record.offset), None)
                return outcome
            return await route(msg, exc, outcome)

        return retrying

    async def _route(self, msg: KafkaMessage, exc: Exception, outcome: Outcome) -> Outcome:
        record = msg.raw_message
        poison = isinstance(exc, DecodeError)
        if poison:
            if self.dead_letter is None:
                return outcome
            return await self._send(msg, exc, self.dead_letter, 1, None, outcome)
        if self.blocking:
            key = (record.topic, record.partition, record.offset)
            failed = self._failures.get(key, 0) + 1
            if failed <= len(self.delays):
                self._failures[key] = failed
                forget_failure(msg)
                if self._watch is not None:
                    self._watch.retried(TopicPartition(record.topic, record.partition))
                return Outcome.NACK  # redelivered in place after delays[failed - 1]
            outcome = await self._to_dead_letter(msg, exc, failed)
            if outcome is Outcome.NACK:  # not written: straight to the dead letter next time
                self._failures[key] = len(self.delays)
            else:
                self._failures.pop(key, None)
            return outcome
        origin = self._origin.get(record.topic)
        handled = origin[1] + 1 if origin is not None else 1
        main = origin[0] if origin is not None else record.topic
        names = self.retry_topics.get(main, ())
        if handled <= len(names):
            due = time.time() + self.delays[handled - 1]
            return await self._send(msg, exc, names[handled - 1], handled, due, Outcome.ACK)
        return await self._to_dead_letter(msg, exc, handled)

    async def _to_dead_letter(self, msg: KafkaMessage, exc: Exception, handled: int) -> Outcome:
        if self.dead_letter is not None:
            return await self._send(msg, exc, self.dead_letter, handled, None, Outcome.ACK)
        record = msg.raw_message
        self._log(
            logging.ERROR,
            "%s: %s[%d]@%d failed %d times and has no dead_letter= topic; dropped",
            self._owner,
            record.topic,
            record.partition,
            record.offset,
            handled,
        )
        forget_failure(msg)
        return Outcome.ACK

    async def _send(
        self,
        msg: KafkaMessage,
        exc: Exception,
        topic: str,
        handled: int,
        due: float | None,
        outcome: Outcome,
    ) -> Outcome:
        """Write the record to ``topic``; ``outcome`` once the cluster confirmed it, else
        NACK (the message comes again after the backoff)."""
        record = msg.raw_message
        headers = self.headers(record, exc, handled, due)
        transport = self._transport()
        # Kafka takes no record with neither key nor value: such a one keeps an empty value.
        value = b"" if record.value is None and record.key is None else record.value
        try:
            future = await transport.send(
                topic,
                value,
                key=record.key,
                partition=None,
                timestamp_ms=None,
                headers=headers,
            )
            await transport.confirm(topic, future)
        except Exception as failure:
            self._log(
                logging.ERROR,
                "%s: writing %s[%d]@%d to %s failed (%s: %s); it is delivered again",
                self._owner,
                record.topic,
                record.partition,
                record.offset,
                topic,
                type(failure).__name__,
                failure,
            )
            return Outcome.NACK
        self._log(
            logging.WARNING if due is not None else logging.ERROR,
            "%s: %s[%d]@%d (attempt %d) %s %s",
            self._owner,
            record.topic,
            record.partition,
            record.offset,
            handled,
            "retried on" if due is not None else "dead-lettered to",
            topic,
        )
        forget_failure(msg)  # handled by configuration: the test broker's publish does not raise
        if self._watch is not None:
            origin = self._origin.get(record.topic)
            first = TopicPartition(origin[0] if origin else record.topic, record.partition)
            (self._watch.retried if due is not None else self._watch.dead_lettered)(first)
        return outcome

    def headers(
        self,
        record: ConsumerRecord[bytes, bytes],
        exc: Exception,
        handled: int,
        due: float | None,
    ) -> list[tuple[str, bytes]]:
        """The user headers of ``record``, then where it came from and why it failed."""
        headers = [(k, v) for k, v in record.headers if not k.startswith(OWN_PREFIX)]
        if record.topic in self._origin:  # a retry: where it first came from, as it said
            origin = [
                (name, _header(record, name) or b"")
                for name in (ORIGINAL_TOPIC, ORIGINAL_PARTITION, ORIGINAL_OFFSET)
            ]
        else:
            origin = [
                (ORIGINAL_TOPIC, record.topic.encode()),
                (ORIGINAL_PARTITION, str(record.partition).encode()),
                (ORIGINAL_OFFSET, str(record.offset).encode()),
            ]
        text = str(exc)
        if len(text) > MESSAGE_LIMIT:
            text = text[: MESSAGE_LIMIT - 1] + "\u2026"
        headers += origin
        headers += [
            (ATTEMPTS, str(handled).encode()),
            (EXCEPTION_TYPE, type(exc).__name__.encode()),
            (EXCEPTION_MESSAGE, text.encode()),
        ]
        if due is not None:
            headers.append((DUE, str(math.ceil(due * 1000)).encode()))  # never early
        return headers

    def _log(self, level: int, text: str, *args: Any) -> None:
        if self._logger is not None:
            self._logger.log(level, text, *args)
