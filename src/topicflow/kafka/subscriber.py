"""The four subscriber kinds: how fetched records reach handlers.

==================================  ==========================================================
kind                                what runs at once, and what stays in order
==================================  ==========================================================
DefaultSubscriber                   one message at a time; partition order kept
BatchSubscriber                     one list of up to ``max_records`` messages at a time
ConcurrentDefaultSubscriber         up to ``max_workers`` messages; same key stays in order
ConcurrentBetweenPartitionsSub...   ``max_workers`` consumers in the group; partition order kept
==================================  ==========================================================

What they share is in ``_subscriber.py`` (handlers, settings, lifecycle) and
``_handling.py`` (the handling of one message); what one consumer does
(fetching, rebalances, offsets) is in ``_loop.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import logging
import zlib
from typing import TYPE_CHECKING, Any, TypeVar

from topicflow._di import compile_batch_handler
from topicflow.ack import AckPolicy
from topicflow.exceptions import AckMessage, DecodeError, NackMessage, RejectMessage, SetupError
from topicflow.kafka._handling import ON_ERROR, Handler
from topicflow.kafka._subscriber import Subscriber
from topicflow.kafka.message import ACKED, NACKED, REJECTED

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping, Sequence

    from topicflow._di import BatchPlan
    from topicflow.kafka._loop import ConsumerLoop
    from topicflow.kafka._options import SubscriberConfig
    from topicflow.kafka._transport import ConsumerRecord, TopicPartition
    from topicflow.kafka.broker.registrator import KafkaRegistrator
    from topicflow.kafka.message import KafkaMessage

    Batches = Mapping[TopicPartition, Sequence[ConsumerRecord[bytes, bytes]]]

__all__ = [
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
        self._workers: list[asyncio.Task[None]] = []
        self._inboxes: list[asyncio.Queue[tuple[ConsumerLoop, TopicPartition, Any]]] = []
        self._spread = itertools.count()

    async def _started(self) -> None:
        count = self.config.max_workers or 1
        self._inboxes = [asyncio.Queue(maxsize=8) for _ in range(count)]
        self._workers = [
            asyncio.create_task(self._work(inbox), name=f"topicflow:{self!r}:worker{i}")
            for i, inbox in enumerate(self._inboxes)
        ]

    async def _process(self, loop: ConsumerLoop, batches: Batches) -> None:
        epoch = loop.epoch
        inboxes = self._inboxes
        for tp, records in batches.items():
            for record in records:
                if not loop.active(epoch):
                    return
                key = record.key
                # crc32, not hash(): the same key goes to the same worker in every process.
                index = zlib.crc32(key) if key is not None else next(self._spread)
                await inboxes[index % len(inboxes)].put((loop, tp, record))

    async def _work(self, inbox: asyncio.Queue[tuple[ConsumerLoop, TopicPartition, Any]]) -> None:
        while True:
            loop, tp, record = await inbox.get()
            try:
                await self._handle(loop, tp, record)
            finally:
                inbox.task_done()

    async def _stopped(self) -> None:
        # Fetching has stopped: let the workers finish what they were handed.
        drained = asyncio.gather(*(inbox.join() for inbox in self._inboxes))
        try:
            await asyncio.wait_for(drained, self._broker.graceful_timeout)
        except TimeoutError:
            self._log(
                logging.WARNING,
                "%r: workers outlived graceful_timeout; unfinished messages are dropped",
                self,
            )
        for worker in self._workers:
            worker.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        self._workers = []


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
        self._batch_plan = compile_batch_handler(func)
        self._handlers.append(Handler(self._batch_plan, None))
        return func

    def _max_records(self) -> int | None:
        return self.config.max_records

    async def _process(self, loop: ConsumerLoop, batches: Batches) -> None:
        plan = self._batch_plan
        assert plan is not None
        policy = self._policy
        extract = plan.extract
        message = self._message if self._parse is None else None
        poisoned = self._poisoned
        #: Offsets handed to the handler, per partition, in delivery order.
        taken: dict[TopicPartition, list[int]] = {}
        bodies: list[Any] = []
        append = bodies.append
        extract_records = plan.extract_records if message is not None else None
        for tp, records in batches.items():
            tracker = loop.tracker(tp)
            if extract_records is not None and not poisoned:
                offsets = [record.offset for record in records]
                if tracker is not None:
                    tracker.begin_many(offsets)
                try:
                    bodies.extend(extract_records(records))
                except ValueError:
                    # A record does not fit: forget these and go one by one to find it.
                    if tracker is not None and offsets:
                        tracker.rewind(offsets[0])
                else:
                    taken[tp] = offsets
                    continue
            offsets = taken[tp] = []
            for record in records:
                offset = record.offset
                if tracker is not None:
                    tracker.begin(offset)
                if poisoned and (tp, offset) in poisoned:  # back after a nack: still poison
                    poisoned.discard((tp, offset))
                    loop.finish(tp, offset, tracker)
                    continue
                try:
                    msg = (
                        message(record) if message is not None else await self._parse_record(record)
                    )
                    append(extract(msg))
                except DecodeError as exc:
                    self._log(logging.ERROR, "poison message rejected, moving on: %s", exc)
                    poisoned.add((tp, offset))
                    loop.finish(tp, offset, tracker)
                    continue
                offsets.append(offset)
        if not bodies:
            return
        if policy is AckPolicy.ACK_FIRST:
            for tp, offsets in taken.items():
                loop.finish_many(tp, offsets)
        outcome = await self._run_batch(plan, bodies, policy, batches)
        if self._access_level is not None and self._logger is not None:
            # One access-log line per batch, naming where each partition's part starts.
            self._logger.log(
                self._access_level,
                "batch of %d (%s) group=%s: %s",
                len(bodies),
                ", ".join(f"{tp.topic}-{tp.partition}-{o[0]}" for tp, o in taken.items() if o),
                self.config.group_id,
                outcome or "pending",
            )
        if policy is AckPolicy.ACK_FIRST or outcome is None:
            return
        if outcome == NACKED:
            for tp, offsets in taken.items():
                if offsets:
                    loop.rewind(tp, offsets[0])
            return
        poisoned.clear()
        for tp, offsets in taken.items():
            loop.finish_many(tp, offsets)

    async def _run_batch(
        self, plan: BatchPlan, bodies: list[Any], policy: AckPolicy, batches: Batches
    ) -> str | None:
        try:
            if self._middlewares:
                # Around a batch, middlewares get the records, and consume_scope the bodies.
                records = records_of(batches)
                async with contextlib.AsyncExitStack() as stack:
                    context = self._broker.context
                    scopes = [
                        await stack.enter_async_context(m(records, context=context))
                        for m in self._middlewares
                    ]
                    call: Callable[[Any], Awaitable[Any]] = self._call_batch
                    for scope in reversed(scopes):
                        call = functools.partial(scope.consume_scope, call)
                    await call(bodies)
            else:
                await self._call_batch(bodies)
        except AckMessage:
            return ACKED
        except NackMessage:
            return NACKED
        except RejectMessage:
            return REJECTED
        except Exception as exc:
            self._log(
                logging.ERROR,
                "batch handler %s failed on %d messages: %r",
                plan.func.__qualname__,
                len(bodies),
                exc,
                exc_info=exc,
            )
            return ON_ERROR[policy]
        return None if policy is AckPolicy.MANUAL else ACKED

    async def _call_batch(self, bodies: list[Any]) -> Any:
        assert self._batch_plan is not None
        result = await self._batch_plan.call(bodies)
        if result is not None:
            for publisher in self._handlers[0].publishers:
                await publisher.publish_result(result, "")
        return result


def records_of(batches: Batches) -> list[Any]:
    """Every record of a fetched batch, partition by partition."""
    return [record for records in batches.values() for record in records]
