"""Subscribers: the fetch loop, dispatch to the handler, and acknowledgement.

The consume path, in order::

    consumer.getmany()                       batches of records per partition
      -> KafkaMessage(record)                no parsing until a field is read
      -> plan.call(msg)                      body validated, handler awaited
      -> publishers / reply                  the return value, if any
      -> outcome (ack / nack / reject)       from the AckPolicy and exceptions
      -> PartitionTracker.finish(offset)     commits follow, batched

A subscriber owns its consumer and two tasks: the fetch loop and the commit
loop. ``stop()`` drains them: fetching stops, the message in hand finishes
within ``graceful_timeout``, finished offsets are committed, the consumer
leaves its group.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any, TypeVar

from topicflow._di import compile_handler
from topicflow.ack import AckPolicy, OffsetCommitter, PartitionTracker
from topicflow.exceptions import (
    AckMessage,
    DecodeError,
    KafkaUnavailableError,
    NackMessage,
    RejectMessage,
    SetupError,
)
from topicflow.kafka._transport import ConsumerSpec, ConsumerStopped
from topicflow.kafka.message import ACKED, NACKED, REJECTED, KafkaMessage
from topicflow.kafka.publisher import PUBLISHERS_ATTR, DefaultPublisher

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping, Sequence

    from topicflow._di import HandlerPlan
    from topicflow.kafka._transport import ConsumerRecord, ConsumerTransport, TopicPartition
    from topicflow.kafka.broker.broker import KafkaBroker

__all__ = ["DefaultSubscriber"]

F = TypeVar("F", bound="Callable[..., Any]")

#: How long one ``getmany`` waits for data; bounds how fast ``stop()`` is noticed.
_FETCH_TIMEOUT_MS = 200
#: Redelivery backoff after a nack: first delay, growth factor, ceiling (seconds).
_NACK_BACKOFF = (0.1, 2.0, 5.0)


class DefaultSubscriber:
    """Consumes its topics one message at a time, keeping each partition's order."""

    def __init__(
        self,
        broker: KafkaBroker,
        topics: Sequence[str],
        *,
        group_id: str | None,
        ack_policy: AckPolicy | None,
        no_reply: bool,
        consumer_options: Mapping[str, Any],
        title: str | None = None,
        description: str | None = None,
        include_in_schema: bool = True,
    ) -> None:
        if not topics:
            raise SetupError("a subscriber needs at least one topic: broker.subscriber('orders')")
        self._broker = broker
        self.topics = tuple(topics)
        self.group_id = group_id
        self.ack_policy = ack_policy
        self.no_reply = no_reply
        self.consumer_options = dict(consumer_options)
        self.title = title
        self.description = description
        self.include_in_schema = include_in_schema
        self.plan: HandlerPlan | None = None

        self._consumer: ConsumerTransport | None = None
        self._committer: OffsetCommitter | None = None
        self._policy = AckPolicy.ACK
        self._publishers: tuple[DefaultPublisher, ...] = ()
        self._logger: logging.Logger | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._running = False
        # Bumped on every revoke: a batch fetched before it is not handled further.
        self._epoch = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._assigned = asyncio.Event()
        self._nack_attempts: dict[tuple[TopicPartition, int], int] = {}

    def __call__(self, func: F) -> F:
        """Register ``func`` as this subscriber's handler; the signature is compiled now."""
        if self.plan is not None:
            raise SetupError(
                f"subscriber {self.topics} already has the handler "
                f"{self.plan.func.__qualname__}; give each handler its own subscriber"
            )
        self.plan = compile_handler(func)
        return func

    @property
    def running(self) -> bool:
        """True between :meth:`start` and :meth:`stop`."""
        return self._running

    # -- lifecycle ---------------------------------------------------------

    async def start(self) -> None:
        """Connect the consumer, join the group and start fetching.

        Returns once the group has handed this consumer its first assignment
        (bounded by the session timeout), so a message published right after
        ``start()`` is not missed by ``auto_offset_reset="latest"``.
        """
        if self._running:
            return
        if self.plan is None:
            raise SetupError(
                f"subscriber {self.topics} has no handler: decorate an async function "
                "with it, e.g. @broker.subscriber('orders')"
            )
        broker = self._broker
        self._logger = broker.logger
        self._policy = self.ack_policy or broker.ack_policy
        self._publishers = tuple(getattr(self.plan.func, PUBLISHERS_ATTR, ()))
        consumer = broker._transport_or_raise().consumer(
            ConsumerSpec(self.topics, self.group_id, self.consumer_options), self
        )
        await consumer.start()
        self._consumer = consumer
        self._running = True
        self._spawn(self._fetch_loop(), "fetch")
        if self.group_id is not None:
            self._committer = OffsetCommitter(consumer.commit, logger=self._logger)
            self._spawn(self._committer.run(), "commit")
            wait_s = self.consumer_options.get("session_timeout_ms", 10_000) / 1000
            try:
                await asyncio.wait_for(self._assigned.wait(), wait_s)
            except TimeoutError:
                self._log(
                    logging.WARNING,
                    "subscriber %s: no partitions assigned after %.0fs; it keeps trying",
                    self.topics,
                    wait_s,
                )

    async def stop(self) -> None:
        """Stop fetching, let the message in hand finish, commit, and leave the group."""
        if not self._running:
            return
        self._running = False
        timeout = self._broker.graceful_timeout
        fetch = [t for t in self._tasks if t.get_name().endswith(":fetch")]
        if fetch:
            _done, late = await asyncio.wait(fetch, timeout=timeout)
            if late:
                self._log(
                    logging.WARNING,
                    "subscriber %s: a handler outlived graceful_timeout=%ss and was "
                    "cancelled; its message is not committed and will be delivered again",
                    self.topics,
                    timeout,
                )
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        if self._committer is not None:
            await self._committer.flush()
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            await consumer.stop()
        self._assigned.clear()

    def _spawn(self, coro: Awaitable[None], name: str) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        task.set_name(f"topicflow:{','.join(self.topics)}:{name}")
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            self._log(
                logging.CRITICAL,
                "subscriber %s: task %s crashed; consumption stopped: %r",
                self.topics,
                task.get_name(),
                exc,
                exc_info=exc,
            )

    # -- rebalance ---------------------------------------------------------

    async def on_assigned(self, assigned: set[TopicPartition]) -> None:
        """Partitions were assigned: start tracking them."""
        self._log(logging.INFO, "group %s: assigned %s", self.group_id, _tps(assigned))
        self._assigned.set()

    async def on_revoked(self, revoked: set[TopicPartition]) -> None:
        """Partitions are leaving: finish the message in hand and commit them first."""
        self._epoch += 1
        try:
            await asyncio.wait_for(self._idle.wait(), self._broker.graceful_timeout)
        except TimeoutError:
            self._log(
                logging.WARNING,
                "group %s: a handler still runs after graceful_timeout during a rebalance; "
                "its message will be delivered again to the partition's next owner",
                self.group_id,
            )
        if self._committer is not None:
            await self._committer.flush(revoked)
            self._committer.forget(revoked)
        if revoked:
            self._log(logging.INFO, "group %s: revoked %s", self.group_id, _tps(revoked))

    # -- consume path ------------------------------------------------------

    async def _fetch_loop(self) -> None:
        consumer = self._consumer
        assert consumer is not None
        max_records = self.consumer_options.get("max_poll_records")
        failures = 0
        while self._running:
            try:
                batches = await consumer.getmany(_FETCH_TIMEOUT_MS, max_records)
            except ConsumerStopped:
                return
            except KafkaUnavailableError as exc:
                failures += 1
                delay = min(0.1 * 2**failures, 5.0)
                self._log(logging.WARNING, "%s; fetching again in %.1fs", exc, delay)
                await asyncio.sleep(delay)
                continue
            failures = 0
            if batches:
                self._idle.clear()
                try:
                    await self._process(batches)
                finally:
                    self._idle.set()

    async def _process(
        self, batches: Mapping[TopicPartition, Sequence[ConsumerRecord[bytes, bytes]]]
    ) -> None:
        epoch = self._epoch
        committer = self._committer
        for tp, records in batches.items():
            tracker = committer.tracker(tp) if committer is not None else None
            for record in records:
                if not self._running or epoch != self._epoch:
                    return
                if not await self._consume(record, tp, tracker):
                    break

    async def _consume(
        self,
        record: ConsumerRecord[bytes, bytes],
        tp: TopicPartition,
        tracker: PartitionTracker | None,
    ) -> bool:
        """Handle one record; False when its partition was rewound (skip the rest)."""
        offset = record.offset
        if tracker is not None:
            tracker.begin(offset)
        policy = self._policy
        msg = KafkaMessage(record)
        if policy is AckPolicy.ACK_FIRST:
            self._finish(tracker, offset)
        assert self.plan is not None
        try:
            result = await self.plan.call(msg)
            if result is not None and self._publishers:
                for publisher in self._publishers:
                    await publisher.publish(result, correlation_id=msg.correlation_id)
            if not self.no_reply and record.headers and msg.reply_to:
                await self._broker.publish(result, msg.reply_to, correlation_id=msg.correlation_id)
        except DecodeError as exc:
            self._log(logging.ERROR, "poison message rejected, moving on: %s", exc)
            outcome: str | None = REJECTED
        except AckMessage:
            outcome = ACKED
        except NackMessage:
            outcome = NACKED
        except RejectMessage:
            outcome = REJECTED
        except Exception as exc:
            self._log(
                logging.ERROR,
                "handler %s failed on %s: %r",
                self.plan.func.__qualname__,
                msg.message_id,
                exc,
                exc_info=exc,
            )
            outcome = msg.status or _ON_ERROR[policy]
        else:
            outcome = msg.status or (None if policy is AckPolicy.MANUAL else ACKED)

        if policy is AckPolicy.ACK_FIRST or outcome is None:
            return True
        if outcome == NACKED:
            self._rewind(tp, tracker, offset)
            return False
        if self._nack_attempts:
            self._nack_attempts.pop((tp, offset), None)
        self._finish(tracker, offset)
        return True

    def _finish(self, tracker: PartitionTracker | None, offset: int) -> None:
        if tracker is not None:
            tracker.finish(offset)
            assert self._committer is not None
            self._committer.note_finished()

    def _rewind(self, tp: TopicPartition, tracker: PartitionTracker | None, offset: int) -> None:
        """Deliver ``offset`` again after a growing backoff; other partitions keep flowing."""
        consumer = self._consumer
        assert consumer is not None
        if tracker is not None:
            tracker.rewind(offset)
        attempt = self._nack_attempts.get((tp, offset), 0)
        self._nack_attempts[(tp, offset)] = attempt + 1
        first, factor, ceiling = _NACK_BACKOFF
        delay = min(first * factor**attempt, ceiling)
        consumer.seek(tp, offset)
        consumer.pause(tp)
        asyncio.get_running_loop().call_later(delay, consumer.resume, tp)

    def _log(self, level: int, text: str, *args: Any, exc_info: Any = None) -> None:
        if self._logger is not None:
            self._logger.log(level, text, *args, exc_info=exc_info)

    def __repr__(self) -> str:
        return f"<DefaultSubscriber topics={self.topics} group_id={self.group_id!r}>"


#: What a handler error means under each policy (MANUAL: nothing, the handler decides).
_ON_ERROR: dict[AckPolicy, str | None] = {
    AckPolicy.ACK_FIRST: ACKED,
    AckPolicy.ACK: ACKED,
    AckPolicy.REJECT_ON_ERROR: REJECTED,
    AckPolicy.NACK_ON_ERROR: NACKED,
    AckPolicy.MANUAL: None,
}


def _tps(tps: set[TopicPartition]) -> str:
    return ", ".join(sorted(f"{tp.topic}[{tp.partition}]" for tp in tps)) or "nothing"
