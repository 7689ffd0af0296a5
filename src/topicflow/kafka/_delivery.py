"""Knowing when a published record has been handled, from the transport seam alone.

``ObservedTransport`` (:mod:`topicflow.kafka._observed`) wraps any transport
(the in-memory one, or aiokafka's for ``with_real=True``) and reports to a
:class:`DeliveryLedger` what crosses the seam: records sent, batches handed out
by ``getmany``, commits, seeks, revokes and stopping consumers. The ledger
turns that into one promise: a publish made *outside* any handler resolves once
every local subscriber that will receive the record has finished with it, and
with every record the handlers published because of it, transitively.

When is a consumer finished with a record it was handed? The subscriber's fetch
loop handles a whole batch before it calls ``getmany`` again, so:

* calling ``getmany`` again finishes the batch it was handed before;
* a ``seek(tp, offset)`` while a batch is in hand means the subscriber stopped
  that partition's batch at ``offset`` (a nack): records up to ``offset`` were
  handled, the rest of that batch was not and will be fetched again;
* a ``commit`` finishes everything before the committed offsets;
* a revoke drops the batch in hand without finishing it (the partition's next
  owner starts from the committed offset and hands the rest out again);
* a consumer that stops, or whose fetch task ends or crashes, stops being waited
  for (until its restarted fetch task fetches again).

That rule holds for a fetch loop that handles its batch itself. When a
consumer is made, :class:`ObservedTransport` asks how its fetch loop (the
rebalance handler it is given) hands records out, a :class:`HandOff`:

* ``FETCH``: the rule above;
* ``WORKERS``: the loop passes records to workers and asks for more at once
  (``ConcurrentDefaultSubscriber``); each worker reports the end of each record
  (:meth:`DeliveryLedger.handling`). A subscriber's retry consumer
  (``kafka/_retry_loop.py``) is one too: it seeks back to a record not due yet,
  which a seek would otherwise count as handled, so each record reports its end;
* ``QUEUE``: the loop queues records for ``get_one()``; they wait for the test to
  take them, so nothing waits for this consumer.

Records are tracked per *target*: a consumer group (any member may handle a
record; each group gets each record once), or a single consumer without a
group. A record is waited for by every target whose subscription covers its
partition when it is sent.

A batch publish waits for each of its records: they are on one partition, at
the offsets that follow the first record's (on a real cluster, a batch split
in two by ``max_batch_size`` may interleave with other producers' records; the
wait then covers the offsets the batch would have had).

Why this cannot deadlock: only a publish made outside a handler waits. The
fetch task of every observed consumer carries a context variable, set by its
``getmany`` (and, for a worker, while it handles a record), that marks it (and
every task a handler starts) as *handling*; a
publish from there returns as soon as the record is written, and its record is
added to the deliveries that caused the batch in hand. Nothing a handler does
ever waits on the ledger, so a chain A -> B -> C, a handler publishing to its
own topic, or a cycle all make progress; only the outermost publish waits,
until the whole cascade it caused is handled.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import contextvars
import enum
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from topicflow.exceptions import WaitTimeout

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence

    from topicflow.kafka._observed import ObservedConsumer
    from topicflow.kafka._transport import ConsumerRecord, RecordMetadata, TopicPartition

__all__ = ["DeliveryLedger", "HandOff", "HandlerRaised"]


class HandlerRaised(Exception):  # a carrier, never shown to users
    """What a waiting publish's future fails with when a handler of its cascade raised:
    the observed transport raises ``error`` itself, as the handler raised it."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(error)
        self.error = error


class HandOff(enum.Enum):
    """How a consumer's fetch loop hands out the records it fetched."""

    #: It handles a batch before it asks for the next.
    FETCH = "fetch"
    #: It passes records to workers, which report each one's end.
    WORKERS = "workers"
    #: It queues them for ``get_one()``: nobody waits for it.
    QUEUE = "queue"


@dataclass(frozen=True, slots=True)
class _Handling:
    """Set in the context of a consumer's fetch task: the deliveries its batch serves."""

    causes: frozenset[_Delivery]


_HANDLING: contextvars.ContextVar[_Handling | None] = contextvars.ContextVar(
    "topicflow_testing_handling", default=None
)


class _Delivery:
    """One publish made outside handlers, waiting for its cascade to be handled."""

    __slots__ = ("error", "expected", "future", "metadata", "pending", "timer")

    def __init__(self, future: asyncio.Future[RecordMetadata]) -> None:
        self.future = future
        self.metadata: RecordMetadata | None = None
        #: The first exception a handler of its cascade raised: the publish raises it.
        self.error: BaseException | None = None
        # Records sent whose metadata is not back yet, plus records not yet handled.
        self.pending = 0
        self.expected: set[_Expected] = set()
        self.timer: asyncio.TimerHandle | None = None

    def release(self) -> None:
        self.pending -= 1
        if self.pending == 0 and self.metadata is not None:
            self.resolve()

    def resolve(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
        if self.future.done() or self.metadata is None:
            return
        if self.error is not None:
            self.future.set_exception(HandlerRaised(self.error))
        else:
            self.future.set_result(self.metadata)

    def fail(self, exc: BaseException) -> None:
        if self.timer is not None:
            self.timer.cancel()
        if not self.future.done():
            self.future.set_exception(exc)


@dataclass(eq=False, slots=True)
class _Expected:
    """A record that deliveries wait for, and the targets that have not handled it yet."""

    tp: TopicPartition
    offset: int
    deliveries: frozenset[_Delivery]
    targets: set[_Target] = field(default_factory=set)


@dataclass(eq=False, slots=True)
class _Target:
    """A consumer group, or one consumer without a group: what receives each record once."""

    name: str
    members: set[ObservedConsumer] = field(default_factory=set)
    #: Per partition: every offset below it has been handled by this target.
    watermark: dict[TopicPartition, int] = field(default_factory=dict)
    #: Per partition: offsets at or above the watermark handled one by one (by workers).
    done: dict[TopicPartition, set[int]] = field(default_factory=dict)
    #: Per partition: records waited for, by offset.
    waiting: dict[TopicPartition, list[_Expected]] = field(default_factory=dict)

    def covers(self, tp: TopicPartition) -> bool:
        return any(member.covers(tp) for member in self.members)

    def handled(self, tp: TopicPartition, offset: int) -> bool:
        return offset < self.watermark.get(tp, 0) or offset in self.done.get(tp, ())


class DeliveryLedger:
    """Which local targets each record waits for, and when they are done with it.

    Args:
        timeout: seconds a publish waits for handlers before it raises
            ``WaitTimeout`` (a ``TimeoutError``); None waits as long as it takes.
    """

    def __init__(self, *, timeout: float | None = None) -> None:
        self._timeout = timeout
        self._targets: dict[object, _Target] = {}
        # Deliveries with a record on the way to a topic (sent, metadata not back yet).
        self._in_transit: dict[str, dict[_Delivery, int]] = {}
        self._open: set[_Delivery] = set()
        # Observed consumers by the rebalance handler (the fetch loop) they serve.
        self._by_handler: dict[object, ObservedConsumer] = {}

    # -- sending -----------------------------------------------------------------

    def on_send(
        self, topic: str, sent: asyncio.Future[RecordMetadata], count: int = 1
    ) -> asyncio.Future[RecordMetadata]:
        """Track ``count`` records just sent (one, or a batch on one partition, whose
        future gives the first record's metadata); return the future to await."""
        handling = _HANDLING.get()
        top: _Delivery | None = None
        if handling is None:
            top = _Delivery(asyncio.get_running_loop().create_future())
            self._open.add(top)
            if self._timeout is not None:
                top.timer = asyncio.get_running_loop().call_later(self._timeout, self._expire, top)
            deliveries = frozenset((top,))
        else:
            deliveries = handling.causes
        for delivery in deliveries:
            delivery.pending += 1
        transit = self._in_transit.setdefault(topic, {})
        for delivery in deliveries:
            transit[delivery] = transit.get(delivery, 0) + 1

        def confirmed(future: asyncio.Future[RecordMetadata]) -> None:
            self._confirmed(topic, future, deliveries, top, count)

        # The in-memory transport's future is already done: handle it now, before any
        # consumer can be handed the record.
        if sent.done():
            confirmed(sent)
        else:
            sent.add_done_callback(confirmed)
        return top.future if top is not None else sent

    def _confirmed(
        self,
        topic: str,
        sent: asyncio.Future[RecordMetadata],
        deliveries: frozenset[_Delivery],
        top: _Delivery | None,
        count: int,
    ) -> None:
        transit = self._in_transit.get(topic, {})
        for delivery in deliveries:
            left = transit.get(delivery, 0) - 1
            if left > 0:
                transit[delivery] = left
            else:
                transit.pop(delivery, None)
        if not transit:
            self._in_transit.pop(topic, None)
        if sent.cancelled() or sent.exception() is not None:
            if top is not None:
                self._open.discard(top)
                top.fail(sent.exception() or asyncio.CancelledError())
            for delivery in deliveries:
                if delivery is not top:
                    delivery.release()
            return
        metadata = sent.result()
        if top is not None:
            top.metadata = metadata
        for offset in range(metadata.offset, metadata.offset + count):
            self._expect(metadata.topic_partition, offset, deliveries)
        for delivery in deliveries:
            delivery.release()
            if delivery.future.done():
                self._open.discard(delivery)

    def _expect(self, tp: TopicPartition, offset: int, deliveries: frozenset[_Delivery]) -> None:
        targets = [
            target
            for target in self._targets.values()
            if target.covers(tp) and not target.handled(tp, offset)
        ]
        if not targets or not deliveries:
            return
        expected = _Expected(tp, offset, deliveries, set(targets))
        for delivery in deliveries:
            delivery.pending += 1
            delivery.expected.add(expected)
        for target in targets:
            bisect.insort(target.waiting.setdefault(tp, []), expected, key=_offset)

    def _done(self, expected: _Expected, target: _Target) -> None:
        expected.targets.discard(target)
        if not expected.targets:
            for delivery in expected.deliveries:
                delivery.expected.discard(expected)
                delivery.release()
                if delivery.future.done():
                    self._open.discard(delivery)

    def _expire(self, delivery: _Delivery) -> None:
        self._open.discard(delivery)
        waiting = sorted(
            f"{e.tp.topic}[{e.tp.partition}]@{e.offset} by {', '.join(t.name for t in e.targets)}"
            for e in delivery.expected
        )
        delivery.fail(
            WaitTimeout(
                f"the publish was written, but these records were not handled within "
                f"{self._timeout}s: {'; '.join(waiting) or 'records still on the way'}. "
                "Check that the subscriber started before the publish and reads from "
                "where the record is (auto_offset_reset='earliest' for a new topic)."
            )
        )

    def close(self) -> None:
        """Release every waiting publish (with its metadata when it has one)."""
        for delivery in list(self._open):
            if delivery.metadata is not None:
                delivery.resolve()
            else:
                delivery.fail(ConnectionError("the test broker closed before the publish ended"))
        self._open.clear()

    # -- consuming ---------------------------------------------------------------

    def join(self, consumer: ObservedConsumer) -> None:
        self._by_handler[consumer.handler] = consumer
        if consumer.hand_off is HandOff.QUEUE:
            return  # its records wait for the test to take them
        target = self._targets.get(consumer.target_key)
        if target is None:
            target = self._targets[consumer.target_key] = _Target(consumer.target_name)
        target.members.add(consumer)

    def leave(self, consumer: ObservedConsumer) -> None:
        consumer.hand.clear()
        if self._by_handler.get(consumer.handler) is consumer:
            del self._by_handler[consumer.handler]
        target = self._targets.get(consumer.target_key)
        if target is None or consumer not in target.members:
            return
        target.members.discard(consumer)
        if not target.members:
            # Nobody is left to handle what it was waited for: stop waiting for it.
            del self._targets[consumer.target_key]
            for waiting in target.waiting.values():
                for expected in waiting:
                    self._done(expected, target)

    def hand(
        self,
        consumer: ObservedConsumer,
        batches: Mapping[TopicPartition, Sequence[ConsumerRecord[bytes, bytes]]],
    ) -> None:
        """A batch was handed out: remember it, and mark the fetch task (whose context
        this runs in) as handling the deliveries it serves."""
        target = self._targets.get(consumer.target_key)
        causes: set[_Delivery] = set()
        for tp, records in batches.items():
            if not records:
                continue
            first, last = records[0].offset, records[-1].offset
            consumer.hand[tp] = (first, last)
            if target is not None:
                for expected in target.waiting.get(tp, ()):
                    if expected.offset > last:
                        break
                    if expected.offset >= first:
                        causes.update(expected.deliveries)
            # A record whose metadata is not back yet may be in this batch.
            causes.update(self._in_transit.get(tp.topic, ()))
        # Set in the fetch task's own context: its handlers, and tasks they start, see it.
        _HANDLING.set(_Handling(frozenset(causes)))

    def settle(self, consumer: ObservedConsumer) -> None:
        """The consumer asks for more: the batch it was handed is handled (unless it
        was handed off to workers, which report each record themselves)."""
        target = self._targets.get(consumer.target_key)
        if target is not None and consumer.hand_off is HandOff.FETCH:
            for tp, (_first, last) in consumer.hand.items():
                self._advance(target, tp, last + 1)
        consumer.hand.clear()

    def seek(self, consumer: ObservedConsumer, tp: TopicPartition, offset: int) -> None:
        held = consumer.hand.get(tp)
        if held is None:
            return
        first, last = held
        if offset < first:
            del consumer.hand[tp]
        elif offset <= last:
            consumer.hand[tp] = (first, offset)

    def committed(self, consumer: ObservedConsumer, offsets: Mapping[TopicPartition, int]) -> None:
        target = self._targets.get(consumer.target_key)
        if target is not None:
            for tp, offset in offsets.items():
                self._advance(target, tp, offset)

    def _advance(self, target: _Target, tp: TopicPartition, watermark: int) -> None:
        if watermark <= target.watermark.get(tp, 0):
            return
        target.watermark[tp] = watermark
        done = target.done.get(tp)
        if done:
            done.difference_update([offset for offset in done if offset < watermark])
        waiting = target.waiting.get(tp)
        while waiting and waiting[0].offset < watermark:
            self._done(waiting.pop(0), target)

    # -- reported by the test broker, for subscribers the transport cannot read --

    @contextlib.contextmanager
    def handling(self, handler: object, tp: TopicPartition, offset: int) -> Iterator[None]:
        """Around one record's handling by a worker of ``handler``'s fetch loop: its
        publishes join the record's cascade, and its end settles the record."""
        consumer = self._by_handler.get(handler)
        target = self._targets.get(consumer.target_key) if consumer is not None else None
        causes: set[_Delivery] = set(self._in_transit.get(tp.topic, ()))
        if target is not None:
            for expected in target.waiting.get(tp, ()):
                if expected.offset == offset:
                    causes.update(expected.deliveries)
        token = _HANDLING.set(_Handling(frozenset(causes)))
        try:
            yield
        finally:
            _HANDLING.reset(token)
            # A target whose members all left waits for nothing any more.
            if consumer is not None and self._targets.get(consumer.target_key) is target:
                assert target is not None
                self._settle_one(target, tp, offset)

    def raised(
        self, handler: object, tp: TopicPartition, offsets: Sequence[int], error: BaseException
    ) -> None:
        """A handler of ``handler``'s fetch loop raised ``error`` on these records: the
        publishes waiting for them raise it (the first error of a cascade wins)."""
        consumer = self._by_handler.get(handler)
        target = self._targets.get(consumer.target_key) if consumer is not None else None
        deliveries: set[_Delivery] = set()
        if target is not None:
            wanted = set(offsets)
            for expected in target.waiting.get(tp, ()):
                if expected.offset in wanted:
                    deliveries.update(expected.deliveries)
        if not deliveries:
            # Not waited for by offset (its metadata may not be back yet): the
            # deliveries the batch in hand serves.
            handling = _HANDLING.get()
            deliveries.update(handling.causes if handling is not None else ())
        for delivery in deliveries:
            if delivery.error is None:
                delivery.error = error

    def _settle_one(self, target: _Target, tp: TopicPartition, offset: int) -> None:
        if target.handled(tp, offset):
            return
        target.done.setdefault(tp, set()).add(offset)
        waiting = target.waiting.get(tp, [])
        for expected in [e for e in waiting if e.offset == offset]:
            waiting.remove(expected)
            self._done(expected, target)


def _offset(expected: _Expected) -> int:
    return expected.offset
