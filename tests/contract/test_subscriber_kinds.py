"""Contract: the four subscriber kinds, patterns, manual partitions, filters and get_one().

Each test publishes through the test broker and asserts right after the publish
returns: under every kind, a test's publish returns once the handlers are done.
"""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import BaseModel

from tests.contract.conftest import Backend
from tests.helpers import Overlap, eventually
from topicflow import AckPolicy, Path
from topicflow.kafka import Backoff, KafkaMessage, TopicPartition
from topicflow.kafka._memory import partition_for_key

EARLY: dict[str, Any] = {"auto_offset_reset": "earliest"}


class Item(BaseModel):
    n: int


async def test_concurrent_default_publish_returns_once_the_worker_finished(
    backend: Backend, topic: str
) -> None:
    broker = backend.broker()
    done: list[int] = []

    # Its fetch loop hands records to workers and fetches again at once: the
    # publish must still wait for the worker, not for the fetch.
    @broker.subscriber(topic, max_workers=3, **EARLY)
    async def slow(n: int) -> None:
        await asyncio.sleep(0.05)
        done.append(n)

    async with backend.run(broker) as br:
        for n in range(4):
            await br.publish(n, topic, key=f"k{n}")
            assert done == list(range(n + 1))


async def test_concurrent_default_overlaps_and_keeps_same_key_order(
    backend: Backend, topic: str
) -> None:
    broker = backend.broker()
    overlap = Overlap()
    by_key: dict[str, list[int]] = {}
    # Workers are chosen by hash(key), which Python seeds per process: with nine
    # keys, the chance that all land on one of three workers is 1 in 6,561.
    keys = [f"k{n}" for n in range(9)]
    count = 3 * len(keys)

    @broker.subscriber(topic, max_workers=3, **EARLY)
    async def handle(n: int, msg: KafkaMessage) -> None:
        assert msg.key is not None
        await overlap.run(0.02 if n % 2 else 0.005)
        by_key.setdefault(msg.key.decode(), []).append(n)

    async with backend.run(broker) as br:
        futures = [
            await br.publish(n, topic, key=keys[n % len(keys)], no_confirm=True)
            for n in range(count)
        ]
        await asyncio.gather(*futures)
        # Every future resolved once its handler finished: nothing to wait for.
        assert sum(map(len, by_key.values())) == count

    assert overlap.peak >= 2, overlap.peak
    assert by_key == {key: [n for n in range(count) if keys[n % len(keys)] == key] for key in keys}


async def test_two_workers_nacking_one_partition_at_once_lose_nothing(
    backend: Backend, topic: str
) -> None:
    # Offsets 0 and 2 of one partition fail together in two workers (keys x and z
    # go to workers 0 and 2 by crc32): the partition is rewound to 0, and the later
    # nack of 2 must not move it forward to 2, or 0 and 1 would be skipped.
    broker = backend.broker(nack_backoff=Backoff(0.05, 1.0, 0.05))
    tries: dict[int, int] = {}
    failing: set[int] = set()
    both = asyncio.Event()
    succeeded: list[int] = []

    @broker.subscriber(topic, max_workers=3, ack_policy=AckPolicy.NACK_ON_ERROR, **EARLY)
    async def handle(n: int) -> None:
        tries[n] = tries.get(n, 0) + 1
        if n != 1 and tries[n] == 1:
            failing.add(n)
            if len(failing) == 2:
                both.set()
            await asyncio.wait_for(both.wait(), 10)
            raise RuntimeError("fails the first time")
        succeeded.append(n)

    async with backend.run(broker) as br:
        for n, key in enumerate(("x", "y", "z")):
            await br.publish(n, topic, key=key, no_confirm=True)
        await eventually(lambda: {0, 1, 2} <= set(succeeded), timeout=20)
    assert tries[0] == 2
    assert tries[2] == 2


async def test_a_concurrent_handlers_publishes_join_the_cascade(
    backend: Backend, topic: str
) -> None:
    broker = backend.broker()
    chained, looped = f"{topic}-next", f"{topic}-loop"
    seen: list[str] = []

    @broker.subscriber(topic, max_workers=2, **EARLY)
    @broker.publisher(chained)
    async def first(n: int) -> int:
        return n + 1

    @broker.subscriber(chained, **EARLY)
    async def second(n: int) -> None:
        await asyncio.sleep(0.05)
        seen.append(f"next:{n}")

    @broker.subscriber(looped, max_workers=2, **EARLY)
    async def again(n: int) -> None:
        seen.append(f"loop:{n}")
        if n < 3:  # a worker publishing to its own topic must not wait for itself
            await broker.publish(n + 1, looped, key="same")

    async with backend.run(broker) as br:
        await br.publish(1, topic)
        assert seen == ["next:2"]
        await asyncio.wait_for(br.publish(1, looped, key="same"), 20)
        assert seen == ["next:2", "loop:1", "loop:2", "loop:3"]


async def test_concurrent_between_partitions_keeps_each_partitions_order(
    backend: Backend, topic: str, group: str
) -> None:
    await backend.create_topic(topic, 3)
    broker = backend.broker()
    by_partition: dict[int, list[int]] = {}

    @broker.subscriber(topic, group_id=group, max_workers=3, heartbeat_interval_ms=100, **EARLY)
    async def handle(n: int, msg: KafkaMessage) -> None:
        await asyncio.sleep(0.01)
        by_partition.setdefault(msg.partition, []).append(n)

    async with backend.run(broker) as br:
        futures = [await br.publish(n, topic, partition=n % 3, no_confirm=True) for n in range(15)]
        await asyncio.gather(*futures)
        assert sum(map(len, by_partition.values())) == 15

    assert by_partition == {p: [n for n in range(15) if n % 3 == p] for p in range(3)}
    committed = await backend.committed(group)
    assert committed == {TopicPartition(topic, p): 5 for p in range(3)}


async def test_batches_take_at_most_max_records_validated_as_models(
    backend: Backend, topic: str, group: str
) -> None:
    broker = backend.broker()
    batches: list[list[Item]] = []
    sub = broker.subscriber(topic, group_id=group, batch=True, max_records=3, **EARLY)

    @sub
    async def handle(items: list[Item]) -> None:
        batches.append(items)

    async with backend.run(broker) as br:
        await br.publish(Item(n=0), topic)
        assert batches == [[Item(n=0)]]  # the publish waited for its batch
        futures = [await br.publish(Item(n=n), topic, no_confirm=True) for n in range(1, 8)]
        await br.publish({"n": "poison"}, topic)  # left out of its batch, logged
        await asyncio.gather(*futures)
        # The mock gets each batch's bodies as one call.
        calls = [call.args[0] for call in sub.mock.call_args_list]  # type: ignore[attr-defined]

    assert all(1 <= len(batch) <= 3 for batch in batches), [len(b) for b in batches]
    assert [item.n for batch in batches for item in batch] == list(range(8))
    assert [len(call) for call in calls] == [len(batch) for batch in batches]
    assert [body for call in calls for body in call] == [{"n": n} for n in range(8)]
    assert await backend.committed(group) == {TopicPartition(topic, 0): 9}


async def test_pattern_placeholders_bind_to_path(backend: Backend, topic: str) -> None:
    # A pattern subscriber sees the topics that exist when it starts (a real
    # cluster shows new ones only after the consumer's next metadata refresh).
    for name in (f"{topic}.error", f"{topic}.info", f"{topic}-other.error"):
        await backend.create_topic(name, 1)
    broker = backend.broker()
    got: list[tuple[str, str, str]] = []

    @broker.subscriber(pattern=f"{topic}\\.{{level}}", group_id=f"{topic}-g", **EARLY)
    async def handle(text: str, msg: KafkaMessage, level: str = Path()) -> None:
        got.append((msg.topic, level, text))

    async with backend.run(broker) as br:
        await br.publish("disk full", f"{topic}.error")
        await br.publish("started", f"{topic}.info")
        await br.publish("not mine", f"{topic}-other.error")  # waits for nobody
        assert got == [
            (f"{topic}.error", "error", "disk full"),
            (f"{topic}.info", "info", "started"),
        ]


async def test_manual_partitions_read_only_those(backend: Backend, topic: str) -> None:
    await backend.create_topic(topic, 3)
    broker = backend.broker()
    got: list[tuple[int, int]] = []

    @broker.subscriber(partitions=[TopicPartition(topic, 1)], **EARLY)
    async def handle(n: int, msg: KafkaMessage) -> None:
        got.append((msg.partition, n))

    async with backend.run(broker) as br:
        for n in range(9):
            await br.publish(n, topic, partition=n % 3)
        assert got == [(1, 1), (1, 4), (1, 7)]


async def test_filters_choose_the_handler_and_the_mock_sees_every_call(
    backend: Backend, topic: str
) -> None:
    broker = backend.broker()
    sub = broker.subscriber(topic, **EARLY)
    routed: list[tuple[str, Any]] = []

    @sub(filter=lambda msg: msg.headers.get("kind") == "item")
    async def on_item(item: Item) -> None:
        routed.append(("item", item.n))

    async def is_text(msg: KafkaMessage) -> bool:  # a filter may be async
        return msg.content_type == "text/plain"

    @sub(filter=is_text)
    async def on_text(text: str) -> None:
        routed.append(("text", text))

    @sub
    async def fallback(body: bytes) -> None:
        routed.append(("other", body))

    async with backend.run(broker) as br:
        await br.publish(Item(n=1), topic, headers={"kind": "item"})
        await br.publish("hello", topic)
        await br.publish(b"\x01", topic)
        assert routed == [("item", 1), ("text", "hello"), ("other", b"\x01")]
        calls = [call.args[0] for call in sub.mock.call_args_list]  # type: ignore[attr-defined]
        assert calls == [{"n": 1}, "hello", b"\x01"]


async def test_get_one_takes_messages_nobody_handles(
    backend: Backend, topic: str, group: str
) -> None:
    broker = backend.broker()
    sub = broker.subscriber(topic, group_id=group, **EARLY)

    async with backend.run(broker) as br:
        # No handler: the publishes wait for nobody, the messages wait for get_one().
        for n in range(3):
            await asyncio.wait_for(br.publish(n, topic, key="k"), 10)
        taken = []
        for _ in range(3):
            msg = await sub.get_one(timeout=10)
            assert msg is not None
            taken.append((msg.offset, await msg.decode()))
        assert await sub.get_one(timeout=0.2) is None
        assert taken == [(0, 0), (1, 1), (2, 2)]

    partition = partition_for_key(b"k", 1)
    # The last message taken counts as handled when the subscriber stops.
    assert await backend.committed(group) == {TopicPartition(topic, partition): 3}


async def test_subscribers_started_after_the_broker_are_observed_too(
    backend: Backend, topic: str, group: str
) -> None:
    broker = backend.broker()
    async with backend.run(broker) as br:
        queue = broker.subscriber(f"{topic}-q", group_id=group, **EARLY)
        await queue.start()
        for n in range(3):  # nothing waits for a subscriber without a handler
            await asyncio.wait_for(br.publish(n, f"{topic}-q"), 10)
        taken = [await queue.get_one(timeout=10) for _ in range(3)]
        assert [await msg.decode() for msg in taken if msg is not None] == [0, 1, 2]

        workers = broker.subscriber(topic, max_workers=2, **EARLY)
        done: list[int] = []

        @workers
        async def slow(n: int) -> None:
            await asyncio.sleep(0.05)
            done.append(n)

        await workers.start()
        await br.publish(7, topic)
        assert done == [7]  # waited for the worker
        workers.mock.assert_called_once_with(7)  # type: ignore[attr-defined]
