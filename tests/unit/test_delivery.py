"""The delivery ledger at the seam: when a publish made outside handlers resolves."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import pytest

from topicflow.kafka._delivery import DeliveryLedger, HandOff
from topicflow.kafka._memory import MemoryKafka, MemoryTransport
from topicflow.kafka._observed import ObservedTransport
from topicflow.kafka._seam import ConsumerTransport
from topicflow.kafka._transport import ConsumerSpec, TopicPartition

TP = TopicPartition("t", 0)


class Listener:
    async def on_revoked(self, revoked: set[TopicPartition]) -> None:
        return None

    async def on_assigned(self, assigned: set[TopicPartition]) -> None:
        return None


async def setup(
    timeout: float | None = None, *topics: str
) -> tuple[ObservedTransport, list[ConsumerTransport]]:
    transport = ObservedTransport(MemoryTransport(MemoryKafka()), DeliveryLedger(timeout=timeout))
    await transport.connect()
    consumers = []
    for topic in topics or ("t",):
        consumer = transport.consumer(
            ConsumerSpec((topic,), f"g-{topic}", {"auto_offset_reset": "earliest"}), Listener()
        )
        await consumer.start()
        consumers.append(consumer)
    return transport, consumers


async def publish(transport: ObservedTransport, value: bytes, topic: str = "t") -> Any:
    return await transport.send(
        topic, value, key=None, partition=None, timestamp_ms=None, headers=[]
    )


class FetchLoop:
    """Runs actions in one long-lived task, as a subscriber's fetch loop does: its
    getmany marks the task as handling, and its end means the consumer is gone."""

    def __init__(self, consumer: ConsumerTransport) -> None:
        self.consumer = consumer
        self._actions: asyncio.Queue[Callable[[], Awaitable[Any]]] = asyncio.Queue()
        self._results: asyncio.Queue[Any] = asyncio.Queue()
        self.task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        while True:
            action = await self._actions.get()
            self._results.put_nowait(await action())

    async def run(self, action: Callable[[], Awaitable[Any]]) -> Any:
        self._actions.put_nowait(action)
        return await self._results.get()

    async def fetch(self) -> Mapping[TopicPartition, Sequence[Any]]:
        return await self.run(lambda: self.consumer.getmany(10, None))  # type: ignore[no-any-return]

    async def end(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


async def test_a_record_is_handled_when_its_consumer_asks_for_more() -> None:
    transport, [consumer] = await setup()
    loop = FetchLoop(consumer)
    future = await publish(transport, b"x")
    assert [r.value for r in (await loop.fetch())[TP]] == [b"x"]
    assert not future.done()  # handed out, the handler may still run
    await loop.fetch()
    assert future.done()
    assert future.result().offset == 0
    await loop.end()


async def test_a_seek_in_hand_ends_the_batch_there() -> None:
    transport, [consumer] = await setup()
    loop = FetchLoop(consumer)
    futures = [await publish(transport, str(n).encode()) for n in range(3)]
    await loop.fetch()  # hands 0, 1, 2
    consumer.seek(TP, 1)  # a nack of 1: 0 and 1 were handled, 2 was not
    again = await loop.fetch()
    assert [r.offset for r in again[TP]] == [1, 2]
    assert [f.done() for f in futures] == [True, True, False]
    await loop.fetch()
    assert futures[2].done()
    await loop.end()


async def test_a_commit_settles_what_it_passes() -> None:
    transport, [consumer] = await setup()
    loop = FetchLoop(consumer)
    futures = [await publish(transport, str(n).encode()) for n in range(2)]
    await loop.fetch()
    await consumer.commit({TP: 1})
    assert [f.done() for f in futures] == [True, False]
    await loop.end()
    assert futures[1].done()  # its fetch loop ended: nobody is left to handle it


async def test_a_record_published_by_a_handler_is_part_of_the_cascade() -> None:
    transport, [first, second] = await setup(None, "t", "u")
    first_loop, second_loop = FetchLoop(first), FetchLoop(second)
    outer = await publish(transport, b"start")

    await first_loop.fetch()  # handed "start": its task is now handling it
    inner = await first_loop.run(lambda: publish(transport, b"next", "u"))
    assert inner.done()  # a handler's publish does not wait
    await first_loop.fetch()  # done with "start"
    assert not outer.done()  # "next" is not handled yet
    await second_loop.fetch()
    await second_loop.fetch()
    assert outer.done()
    await first_loop.end()
    await second_loop.end()


async def test_a_stopped_consumer_is_not_waited_for() -> None:
    transport, [consumer] = await setup()
    loop = FetchLoop(consumer)
    future = await publish(transport, b"x")
    await loop.fetch()
    await consumer.stop()
    assert future.done()
    await loop.end()


async def test_a_bounded_wait_names_what_was_not_handled() -> None:
    transport, [_consumer] = await setup(0.05)
    future = await publish(transport, b"x")
    with pytest.raises(TimeoutError, match=r"t\[0\]@0 by group 'g-t'"):
        await future


async def with_hand_off(hand_off: HandOff, topic: str) -> tuple[ObservedTransport, Listener, Any]:
    """A transport whose consumer of ``topic`` hands its records out as ``hand_off`` says."""
    handler = Listener()
    transport = ObservedTransport(
        MemoryTransport(MemoryKafka()),
        DeliveryLedger(),
        hand_off=lambda loop: hand_off if loop is handler else HandOff.FETCH,
    )
    await transport.connect()
    consumer = transport.consumer(
        ConsumerSpec((topic,), f"g-{topic}", {"auto_offset_reset": "earliest"}), handler
    )
    await consumer.start()
    return transport, handler, consumer


async def test_a_record_handed_to_a_worker_is_handled_when_the_worker_is_done() -> None:
    transport, handler, consumer = await with_hand_off(HandOff.WORKERS, "w")
    other = transport.consumer(ConsumerSpec(("t",), "g-t", {}), Listener())
    await other.start()
    ledger = transport._ledger
    loop = FetchLoop(consumer)
    first, second = [await publish(transport, str(n).encode(), "w") for n in range(2)]
    await loop.fetch()
    await loop.fetch()  # asking for more means nothing: the workers have the records
    assert not first.done()
    with ledger.handling(handler, TopicPartition("w", 0), 1):
        inner = await publish(transport, b"from the worker", "t")
        assert inner.done()  # a worker's publish does not wait
    assert not second.done()  # "from the worker" is part of its cascade, unhandled
    with ledger.handling(handler, TopicPartition("w", 0), 0):
        pass
    assert first.done()
    await loop.end()


async def test_a_queueing_consumer_is_not_waited_for() -> None:
    transport, _, _ = await with_hand_off(HandOff.QUEUE, "q")
    # A get_one() subscriber: the test takes its records when it wants them.
    assert (await publish(transport, b"x", "q")).done()
