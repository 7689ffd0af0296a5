"""The four subscriber kinds: how fetched records reach the pipeline.

==================================  ==========================================================
kind                                what runs at once, and what stays in order
==================================  ==========================================================
DefaultSubscriber                   one message at a time; partition order kept
BatchSubscriber                     one list of up to ``max_records`` messages at a time
ConcurrentDefaultSubscriber         up to ``max_workers`` messages; same key stays in order
ConcurrentBetweenPartitionsSub...   ``max_workers`` consumers in the group; partition order kept
==================================  ==========================================================

Each kind is one dispatch function from a fetched batch to its pipeline; what
they share (handlers, settings, lifecycle, in-order dispatch) is in
``_subscriber.py``, the pipeline in ``_pipeline.py``, and what one consumer does
(fetching, rebalances, redelivery) in ``_loop.py``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import itertools
import logging
import sys
import time
import zlib
from typing import TYPE_CHECKING, Any, TypeVar

from topicflow._context import enter_consumer
from topicflow._di import compile_batch_handler
from topicflow._handler import wrapper_of
from topicflow._tasks import PACE
from topicflow.ack import AckPolicy, Outcome
from topicflow.exceptions import DecodeError, SetupError
from topicflow.kafka._failures import HANDLED
from topicflow.kafka._pipeline import Handler, wrap_consume
from topicflow.kafka._publish import new_correlation_id
from topicflow.kafka._subscriber import Subscriber

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping, Sequence

    from topicflow._di import BatchPlan
    from topicflow.ack import PartitionTracker
    from topicflow.kafka._loop import ConsumerLoop
    from topicflow.kafka._options import SubscriberConfig
    from topicflow.kafka._runtime import Runtime
    from topicflow.kafka._transport import ConsumerRecord, TopicPartition
    from topicflow.kafka.broker.registrator import KafkaRegistrator, Scope
    from topicflow.kafka.message import KafkaMessage

    Record = ConsumerRecord[bytes, bytes]
    Batches = Mapping[TopicPartition, Sequence[Record]]
    _Work = tuple[ConsumerLoop, TopicPartition, PartitionTracker, int, Record]

__all__ = [
    "Batch",
    "BatchSubscriber",
    "ConcurrentBetweenPartitionsSubscriber",
    "ConcurrentDefaultSubscriber",
    "DefaultSubscriber",
]

F = TypeVar("F", bound="Callable[..., Any]")


class DefaultSubscriber(Subscriber):
    """One message at a time; each partition's order is kept."""


class ConcurrentBetweenPartitionsSubscriber(Subscriber):
    """``max_workers`` consumers in one group: up to that many partitions handled at
    once, each partition in order. Rebalances spread the partitions over them."""

    def _consumer_count(self) -> int:
        return self.config.max_workers or 1


class ConcurrentDefaultSubscriber(Subscriber):
    """Up to ``max_workers`` messages handled at once. Messages with the same key go
    to the same worker, so they stay in order; keyless messages are spread round robin.
    """

    def __init__(self, owner: KafkaRegistrator, config: SubscriberConfig) -> None:
        super().__init__(owner, config)
        self._reset()

    def _reset(self) -> None:
        self._inboxes: list[asyncio.Queue[_Work]] = []
        self._spread = itertools.count()

    def _started(self) -> None:
        assert self._tasks is not None
        self._inboxes = [asyncio.Queue(maxsize=8) for _ in range(self.config.max_workers or 1)]
        for i, inbox in enumerate(self._inboxes):
            self._tasks.spawn(f"worker{i}", functools.partial(self._work, inbox))

    async def _dispatch(self, loop: ConsumerLoop, batches: Batches) -> None:
        """Begin each record in delivery order and pass it to its key's worker."""
        epoch = loop.epoch
        inboxes = self._inboxes
        ack_first = self._policy is AckPolicy.ACK_FIRST
        for tp, records in batches.items():
            tracker = loop.tracker(tp)
            generation = tracker.generation
            for record in records:
                if loop.epoch != epoch or tracker.generation != generation:
                    break
                if ack_first:  # finished when received, whatever becomes of it
                    tracker.settle(record.offset, Outcome.ACK, False)
                else:
                    tracker.begin(record.offset)
                key = record.key
                # crc32, not hash(): the same key goes to the same worker in every process.
                index = zlib.crc32(key) if key is not None else next(self._spread)
                await inboxes[index % len(inboxes)].put((loop, tp, tracker, generation, record))

    async def _work(self, inbox: asyncio.Queue[_Work]) -> None:
        ack_first = self._policy is AckPolicy.ACK_FIRST
        current = None
        while True:
            loop, tp, tracker, generation, record = await inbox.get()
            if loop.consumer is not current:  # Context("handler_.consumer")
                current = loop.consumer
                enter_consumer(current)
            try:
                if time.monotonic() >= PACE.due:  # the previous handler may never have awaited
                    await loop.breathe()
                if tracker.generation != generation:
                    continue  # its partition was rewound or revoked since: it comes again
                msg = self._message(record)
                try:
                    outcome = await loop.pipeline(msg)
                    if ack_first:
                        continue  # finished when received
                    if outcome is Outcome.PENDING:
                        loop.settle_later(tracker, tp, record.offset, msg)
                    elif not tracker.settle(record.offset, outcome):
                        loop.redeliver(tp, record.offset)  # nacked: its partition was rewound
                except Exception:
                    # Not the handler's error (the pipeline books those): deliver it again.
                    if not tracker.settle(record.offset, Outcome.NACK):
                        loop.redeliver(tp, record.offset)
                    raise
            finally:
                inbox.task_done()

    async def _drain(self, timeout: float) -> None:
        # Fetching has stopped for now: let the workers finish what they were handed.
        drained = asyncio.gather(*(inbox.join() for inbox in self._inboxes))
        try:
            await asyncio.wait_for(drained, timeout)
        except TimeoutError:
            assert self._failures is not None
            self._failures.log(
                logging.WARNING,
                "%r: workers outlived graceful_timeout; their messages are not committed "
                "and will be delivered again",
                self,
            )


@dataclasses.dataclass(frozen=True, slots=True)
class Batch:
    """One fetched batch, as a batch subscriber's pipeline takes it."""

    #: Every record fetched, partition by partition (what middlewares are made with).
    records: list[Record]
    #: The records handed to the handler (poison left out), in delivery order.
    valid: list[Record]
    #: Their validated bodies: what the handler receives.
    bodies: list[Any]
    #: The offsets handed to the handler, per partition, in delivery order.
    taken: dict[TopicPartition, list[int]]
    #: The exception that ended its handling, if one did (set by its pipeline).
    failure: list[BaseException] = dataclasses.field(default_factory=list)


class BatchSubscriber(Subscriber):
    """The handler receives a list of up to ``max_records`` bodies, each validated as
    the ``T`` of its ``list[T]`` annotation. Poison records are logged and left out.
    The batch is acknowledged as a whole."""

    def __init__(self, owner: KafkaRegistrator, config: SubscriberConfig) -> None:
        super().__init__(owner, config)
        self._batch_plan: BatchPlan | None = None
        self._reset()

    def _reset(self) -> None:
        self._poisoned: set[tuple[TopicPartition, int]] = set()

    def __call__(
        self,
        func: F | None = None,
        *,
        filter: Callable[[KafkaMessage], bool | Awaitable[bool]] | None = None,
    ) -> Any:
        """Register the batch handler: ``async def handle(items: list[Item])``."""
        if func is None:
            return functools.partial(self.__call__, filter=filter)
        if filter is not None or self._batch_plan is not None:
            raise SetupError(f"{self!r}: a batch subscriber has exactly one handler, no filter=")
        wrapper = wrapper_of(func)
        self._batch_plan = compile_batch_handler(wrapper.__wrapped__, sys._getframe(1).f_locals)
        self._handlers.append(Handler(self._batch_plan, None))
        return wrapper

    def _max_records(self) -> int | None:
        return self.config.max_records

    def _resolve_policy(self, policy: AckPolicy | None) -> AckPolicy:
        if policy is AckPolicy.MANUAL:
            raise SetupError(
                f"{self!r}: a batch handler receives bodies, not messages it could ack, so "
                "AckPolicy.MANUAL cannot apply; use ACK (the default) and raise "
                "NackMessage or RejectMessage to decide otherwise for the whole batch"
            )
        return super()._resolve_policy(policy)

    def _build_pipeline(self, scope: Scope, runtime: Runtime) -> Any:
        plan = self._batch_plan
        failures = self._failures
        assert plan is not None
        assert failures is not None
        handler = self._handlers[0]
        policy = self._policy
        name = f"batch handler {plan.func.__qualname__} of {self!r}"

        handle = plan.bind_context(runtime.context)

        async def call_batch(bodies: list[Any]) -> Any:
            result = await handle(bodies)
            if result is not None:
                correlation_id = new_correlation_id()
                for publisher in handler.publishers:
                    await publisher.publish_result(result, correlation_id)
            return result

        call: Callable[[Batch], Awaitable[Any]]
        if scope.middlewares:
            # Around a batch, middlewares are made with the records; consume_scope gets the bodies.
            call = wrap_consume(
                call_batch,
                scope.middlewares,
                runtime.context,
                raw=_records_of,
                prepare=_bodies_of,
            )
        else:
            call = functools.partial(_call_bodies, call_batch)

        async def pipeline(batch: Batch) -> Outcome:
            try:
                await call(batch)
            except HANDLED as exc:
                batch.failure.append(exc)
                outcome = failures.batch_outcome(exc, len(batch.bodies), name)
            else:
                outcome = Outcome.ACK
            if failures.access_level is not None and failures.logger is not None:
                # One access-log line per batch, naming where each partition's part starts.
                failures.logger.log(
                    failures.access_level,
                    "batch of %d (%s) group=%s: %s",
                    len(batch.bodies),
                    ", ".join(f"{tp.topic}-{tp.partition}-{o[0]}" for tp, o in batch.taken.items()),
                    failures.group_id,
                    "acked first" if policy is AckPolicy.ACK_FIRST else outcome,
                )
            return outcome

        return pipeline

    async def _dispatch(self, loop: ConsumerLoop, batches: Batches) -> None:
        """Validate the fetched records, hand the valid ones to the pipeline as one batch."""
        plan = self._batch_plan
        assert plan is not None
        extract = plan.extract
        parse = self._parse
        poisoned = self._poisoned
        valid: list[Record] = []
        bodies: list[Any] = []
        taken: dict[TopicPartition, list[int]] = {}
        trackers: dict[TopicPartition, PartitionTracker] = {}
        extract_records = plan.extract_records if parse is None else None
        for tp, records in batches.items():
            if not records:
                continue
            tracker = trackers[tp] = loop.tracker(tp)
            if extract_records is not None and not poisoned:
                offsets = [record.offset for record in records]
                tracker.begin_many(offsets)
                try:
                    bodies.extend(extract_records(records))
                except ValueError:
                    # A record does not fit: forget these and go one by one to find it.
                    tracker.rewind(offsets[0])
                else:
                    valid.extend(records)
                    taken[tp] = offsets
                    continue
            offsets = taken[tp] = []
            for record in records:
                offset = record.offset
                tracker.begin(offset)
                if poisoned and (tp, offset) in poisoned:  # back after a nack: still poison
                    poisoned.discard((tp, offset))
                    tracker.settle(offset, Outcome.POISON)
                    continue
                try:
                    msg = self._message(record) if parse is None else await parse(record)
                    bodies.append(extract(msg))
                except DecodeError as exc:
                    assert self._failures is not None
                    self._failures.log(logging.ERROR, "poison message rejected, moving on: %s", exc)
                    if self._failures.watch is not None:
                        self._failures.watch.poisoned(tp)
                    poisoned.add((tp, offset))
                    tracker.settle(offset, Outcome.POISON)
                    continue
                valid.append(record)
                offsets.append(offset)
        taken = {tp: offsets for tp, offsets in taken.items() if offsets}
        if not bodies:
            return
        ack_first = self._policy is AckPolicy.ACK_FIRST
        if ack_first:
            for tp, offsets in taken.items():
                trackers[tp].finish_many(offsets)
        outcome = await loop.pipeline(Batch(_records_in(batches), valid, bodies, taken))
        if ack_first:
            return
        if outcome is not Outcome.NACK:
            poisoned.clear()
        for tp, offsets in taken.items():
            if not trackers[tp].settle_many(offsets, outcome):
                loop.redeliver(tp, offsets[0])


async def _call_bodies(call: Callable[[list[Any]], Awaitable[Any]], batch: Batch) -> Any:
    return await call(batch.bodies)


def _records_of(batch: Batch) -> list[Record]:
    return batch.records


async def _bodies_of(batch: Batch) -> list[Any]:
    return batch.bodies


def _records_in(batches: Batches) -> list[Record]:
    """Every record of a fetched batch, partition by partition."""
    return [record for records in batches.values() for record in records]
