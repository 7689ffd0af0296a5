"""The transport seam, observed: what crosses it is reported to a delivery ledger.

:class:`ObservedTransport` wraps any :class:`~topicflow.kafka._transport.Transport`
(the in-memory one, or aiokafka's for ``with_real=True``); its consumers report
to the :class:`~topicflow.kafka._delivery.DeliveryLedger` the records sent, the
batches handed out by ``getmany``, commits, seeks, revokes and stops. What the
ledger makes of it is described in :mod:`topicflow.kafka._delivery`.
"""

from __future__ import annotations

import asyncio
import re
from typing import TYPE_CHECKING

from topicflow.kafka._delivery import HandlerRaised, HandOff
from topicflow.kafka._seam import ConsumerStopped

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from topicflow.kafka._delivery import DeliveryLedger
    from topicflow.kafka._seam import ConsumerTransport, RebalanceHandler, Transport
    from topicflow.kafka._transport import (
        ConsumerRecord,
        ConsumerSpec,
        RecordMetadata,
        TopicPartition,
    )
    from topicflow.kafka.topic import Topic

__all__ = ["ObservedConsumer", "ObservedTransport"]

Headers = list[tuple[str, bytes]]


class ObservedConsumer:
    """A consumer that reports what it hands out, commits and seeks to the ledger."""

    def __init__(
        self, ledger: DeliveryLedger, spec: ConsumerSpec, handler: object, hand_off: HandOff
    ) -> None:
        self._ledger = ledger
        self._spec = spec
        #: The rebalance handler it was made for: the subscriber's fetch loop.
        self.handler = handler
        self.hand_off = hand_off
        self._pattern = re.compile(spec.pattern) if spec.pattern is not None else None
        self._partitions = frozenset(spec.partitions)
        grouped = spec.group_id is not None and not spec.partitions
        self.target_key: object = ("group", spec.group_id) if grouped else self
        what = (
            spec.topics
            or spec.pattern
            or tuple(f"{tp.topic}[{tp.partition}]" for tp in spec.partitions)
        )
        self.target_name = f"group {spec.group_id!r}" if grouped else f"the consumer of {what!r}"
        #: The batch in hand: per partition, the first and last offset handed out.
        self.hand: dict[TopicPartition, tuple[int, int]] = {}
        self.inner: ConsumerTransport | None = None
        self._task: asyncio.Task[object] | None = None
        #: True while its fetch task is down after a crash.
        self._down = False

    def covers(self, tp: TopicPartition) -> bool:
        if self._partitions:
            return tp in self._partitions
        if self._pattern is not None:
            return self._pattern.match(tp.topic) is not None
        return tp.topic in self._spec.topics

    @property
    def driver(self) -> object:
        """The client's consumer behind it (aiokafka's, or the in-memory one)."""
        inner = self._inner()
        return getattr(inner, "driver", inner)

    def _inner(self) -> ConsumerTransport:
        assert self.inner is not None
        return self.inner

    async def start(self) -> None:
        await self._inner().start()
        self._ledger.join(self)

    async def stop(self) -> None:
        self._ledger.leave(self)
        await self._inner().stop()

    async def getmany(
        self, timeout_ms: int, max_records: int | None
    ) -> Mapping[TopicPartition, Sequence[ConsumerRecord[bytes, bytes]]]:
        self._ledger.settle(self)
        if self._task is None:
            task = asyncio.current_task()
            if task is not None:
                # A fetch task that ends (stopped, or crashed) no longer handles anything.
                self._task = task
                task.add_done_callback(lambda _: self._ledger.leave(self))
        try:
            batches = await self._inner().getmany(timeout_ms, max_records)
        except ConsumerStopped:
            raise
        except Exception:
            # The fetch task crashes (its supervisor may start it again): while it is
            # down it handles nothing, so nothing may wait for it.
            if not self._down:
                self._down = True
                self._ledger.leave(self)
            raise
        if self._down:
            self._down = False
            self._ledger.join(self)
        self._ledger.hand(self, batches)
        return batches

    async def commit(self, offsets: Mapping[TopicPartition, int]) -> None:
        await self._inner().commit(offsets)
        self._ledger.committed(self, offsets)

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self._ledger.seek(self, tp, offset)
        self._inner().seek(tp, offset)

    def pause(self, tp: TopicPartition) -> None:
        self._inner().pause(tp)

    def resume(self, tp: TopicPartition) -> None:
        self._inner().resume(tp)

    def ends(self) -> Mapping[TopicPartition, int | None]:
        return self._inner().ends()


class _ObservedRebalance:
    """Passes rebalance callbacks on; a revoke drops the batch in hand first."""

    def __init__(self, consumer: ObservedConsumer, handler: RebalanceHandler) -> None:
        self._consumer = consumer
        self._handler = handler

    async def on_revoked(self, revoked: set[TopicPartition]) -> None:
        # What of the batch was handled is unknown here: the commits made while the
        # revoke is handled, or the next owner's fetch, settle those records instead.
        self._consumer.hand.clear()
        await self._handler.on_revoked(revoked)

    async def on_assigned(self, assigned: set[TopicPartition]) -> None:
        await self._handler.on_assigned(assigned)


class ObservedTransport:
    """A :class:`Transport` that reports to a :class:`DeliveryLedger`.

    Args:
        inner: the transport that does the work.
        ledger: shared by every transport on the same (real or in-memory) cluster.
        on_send: called with ``(topic, [(value, headers), ...], batch)`` for each
            record or batch sent.
        hand_off: tells, for the rebalance handler a consumer is made for (its
            fetch loop), how that loop hands out records; ``FETCH`` without it.
    """

    def __init__(
        self,
        inner: Transport,
        ledger: DeliveryLedger,
        on_send: Callable[[str, Sequence[tuple[bytes | None, Headers]], bool], None] | None = None,
        hand_off: Callable[[object], HandOff] | None = None,
    ) -> None:
        self.inner = inner
        self._ledger = ledger
        self._on_send = on_send
        self._hand_off = hand_off

    async def connect(self) -> None:
        await self.inner.connect()

    async def close(self) -> None:
        await self.inner.close()

    async def ping(self, timeout: float) -> bool:
        return await self.inner.ping(timeout)

    async def send(
        self,
        topic: str,
        value: bytes | None,
        *,
        key: bytes | None,
        partition: int | None,
        timestamp_ms: int | None,
        headers: Headers,
    ) -> asyncio.Future[RecordMetadata]:
        sent = await self.inner.send(
            topic, value, key=key, partition=partition, timestamp_ms=timestamp_ms, headers=headers
        )
        if self._on_send is not None:
            self._on_send(topic, [(value, headers)], False)
        return self._ledger.on_send(topic, sent)

    async def confirm(self, topic: str, future: asyncio.Future[RecordMetadata]) -> RecordMetadata:
        # The ledger's future waits for the handlers too, within the ledger's own bound.
        try:
            return await future
        except HandlerRaised as raised:
            error = raised.error  # raised below, outside this block: it is the cause
        except Exception as exc:
            failure = self.inner.failure(topic, exc)
            if failure is exc:
                raise
            raise failure from exc
        raise error

    def failure(self, topic: str, exc: BaseException) -> BaseException:
        if isinstance(exc, HandlerRaised):
            return exc.error
        return self.inner.failure(topic, exc)

    async def send_batch(
        self,
        topic: str,
        records: Sequence[tuple[bytes | None, bytes | None, Headers]],
        *,
        partition: int | None,
        timestamp_ms: int | None,
    ) -> asyncio.Future[RecordMetadata]:
        sent = await self.inner.send_batch(
            topic, records, partition=partition, timestamp_ms=timestamp_ms
        )
        if self._on_send is not None:
            self._on_send(topic, [(value, headers) for value, _, headers in records], True)
        return self._ledger.on_send(topic, sent, len(records))

    async def flush(self) -> None:
        await self.inner.flush()

    async def create_topics(self, topics: Sequence[Topic]) -> None:
        await self.inner.create_topics(topics)

    def consumer(self, spec: ConsumerSpec, rebalance: RebalanceHandler) -> ConsumerTransport:
        hand_off = self._hand_off(rebalance) if self._hand_off is not None else HandOff.FETCH
        observed = ObservedConsumer(self._ledger, spec, rebalance, hand_off)
        observed.inner = self.inner.consumer(spec, _ObservedRebalance(observed, rebalance))
        return observed
