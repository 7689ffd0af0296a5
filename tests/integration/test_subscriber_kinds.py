"""The four subscriber kinds and the other ways to consume, against the real Kafka."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import pytest
from pydantic import BaseModel

from tests.helpers import Overlap, committed_offsets, eventually
from topicflow import AckPolicy, Path
from topicflow.kafka import KafkaBroker, KafkaMessage, TopicPartition

pytestmark = pytest.mark.kafka


class Item(BaseModel):
    n: int


async def test_concurrent_between_partitions_overlaps_and_keeps_partition_order(
    bootstrap: str, topic: str, group: str, create_topic: Any
) -> None:
    await create_topic(topic, 4)
    broker = KafkaBroker(bootstrap)
    overlap = Overlap()
    seen: dict[int, list[int]] = {}

    @broker.subscriber(topic, group_id=group, max_workers=4, auto_offset_reset="earliest")
    async def handle(n: int, msg: KafkaMessage) -> None:
        await overlap.run(0.05)
        seen.setdefault(msg.partition, []).append(n)

    async with broker:
        await broker.start()
        for n in range(40):
            await broker.publish(n, topic, partition=n % 4)
        await eventually(lambda: sum(map(len, seen.values())) == 40, timeout=30)

    assert overlap.peak >= 2, overlap.peak
    for partition, numbers in seen.items():
        assert numbers == sorted(numbers), partition
        assert numbers == [n for n in range(40) if n % 4 == partition]
    assert sum((await committed_offsets(bootstrap, group)).values()) == 40


async def test_concurrent_without_group_keeps_same_key_order(bootstrap: str, topic: str) -> None:
    broker = KafkaBroker(bootstrap)
    overlap = Overlap()
    by_key: dict[str, list[int]] = {}

    @broker.subscriber(topic, max_workers=4, auto_offset_reset="earliest")
    async def handle(n: int, msg: KafkaMessage) -> None:
        assert msg.key is not None
        await overlap.run(0.03 if n % 2 else 0.01)
        by_key.setdefault(msg.key.decode(), []).append(n)

    async with broker:
        await broker.start()
        for n in range(40):
            await broker.publish(n, topic, key=f"k{n % 4}")
        await eventually(lambda: sum(map(len, by_key.values())) == 40, timeout=30)

    assert overlap.peak >= 2, overlap.peak  # different keys ran at once
    for key, numbers in by_key.items():
        assert numbers == [n for n in range(40) if f"k{n % 4}" == key], key


async def test_batches_respect_max_records_and_validate_each_item(
    bootstrap: str, topic: str, group: str
) -> None:
    broker = KafkaBroker(bootstrap)
    batches: list[list[Item]] = []

    @broker.subscriber(
        topic, group_id=group, batch=True, max_records=7, auto_offset_reset="earliest"
    )
    async def handle(items: list[Item]) -> None:
        batches.append(items)

    async with broker:
        await broker.start()
        for n in range(50):
            await broker.publish(Item(n=n), topic, no_confirm=True)
        await broker.publish({"n": "bad"}, topic)  # poison in a batch: left out, logged
        await eventually(lambda: sum(map(len, batches)) == 50)

    assert all(1 <= len(batch) <= 7 for batch in batches), [len(b) for b in batches]
    assert all(isinstance(item, Item) for batch in batches for item in batch)
    assert sorted(item.n for batch in batches for item in batch) == list(range(50))
    assert sum((await committed_offsets(bootstrap, group)).values()) == 51


async def test_pattern_placeholders_bind_to_path(bootstrap: str, create_topic: Any) -> None:
    tag = uuid.uuid4().hex[:8]
    await create_topic(f"logs-{tag}.error", 1)
    await create_topic(f"logs-{tag}.info", 1)
    await create_topic(f"other-{tag}.error", 1)
    broker = KafkaBroker(bootstrap)
    got: list[tuple[str, str]] = []

    @broker.subscriber(
        pattern=f"logs-{tag}\\.{{level}}",
        group_id=f"g-{tag}",
        auto_offset_reset="earliest",
    )
    async def handle(text: str, level: str = Path()) -> None:
        got.append((level, text))

    async with broker:
        await broker.start()
        await broker.publish("disk full", f"logs-{tag}.error")
        await broker.publish("started", f"logs-{tag}.info")
        await broker.publish("ignored", f"other-{tag}.error")
        await eventually(lambda: len(got) == 2)
        await asyncio.sleep(0.3)
    assert sorted(got) == [("error", "disk full"), ("info", "started")]


async def test_explicit_partitions(bootstrap: str, topic: str, create_topic: Any) -> None:
    await create_topic(topic, 3)
    broker = KafkaBroker(bootstrap)
    got: list[int] = []

    @broker.subscriber(partitions=[TopicPartition(topic, 2)], auto_offset_reset="earliest")
    async def handle(n: int, msg: KafkaMessage) -> None:
        assert msg.partition == 2
        got.append(n)

    async with broker:
        await broker.start()
        for n in range(9):
            await broker.publish(n, topic, partition=n % 3)
        await eventually(lambda: len(got) == 3)
        await asyncio.sleep(0.3)
    assert got == [2, 5, 8]


async def test_filters_choose_the_handler(bootstrap: str, topic: str) -> None:
    broker = KafkaBroker(bootstrap)
    sub = broker.subscriber(topic, auto_offset_reset="earliest")
    routed: list[tuple[str, Any]] = []

    @sub(filter=lambda msg: msg.headers.get("kind") == "item")
    async def on_item(item: Item) -> None:
        routed.append(("item", item.n))

    async def is_text(msg: KafkaMessage) -> bool:  # filters may be async
        return msg.content_type == "text/plain"

    @sub(filter=is_text)
    async def on_text(text: str) -> None:
        routed.append(("text", text))

    @sub
    async def fallback(body: bytes) -> None:
        routed.append(("other", body))

    async with broker:
        await broker.start()
        await broker.publish(Item(n=1), topic, headers={"kind": "item"})
        await broker.publish("hello", topic)
        await broker.publish(b"\x01", topic)
        await eventually(lambda: len(routed) == 3)
    assert routed == [("item", 1), ("text", "hello"), ("other", b"\x01")]


async def test_get_one_and_async_for_without_a_handler(
    bootstrap: str, topic: str, group: str
) -> None:
    broker = KafkaBroker(bootstrap)
    async with broker:
        await broker.start()
        sub = broker.subscriber(topic, group_id=group, auto_offset_reset="earliest")
        await sub.start()  # declared after broker.start()
        assert await sub.get_one(timeout=0.3) is None
        for n in range(4):
            await broker.publish(n, topic)
        first = await sub.get_one(timeout=10)
        assert first is not None
        assert await first.decode() == 0
        rest = []
        async for msg in sub:
            rest.append(await msg.decode())
            if len(rest) == 3:
                break
        assert rest == [1, 2, 3]
        await sub.stop()
    # The last message taken counts as handled when the subscriber stops.
    assert sum((await committed_offsets(bootstrap, group)).values()) == 4


async def test_non_persistent_subscriber_leaves_the_broker_when_stopped(
    bootstrap: str, topic: str
) -> None:
    broker = KafkaBroker(bootstrap)
    async with broker:
        await broker.start()
        sub = broker.subscriber(topic, persistent=False, auto_offset_reset="earliest")
        got: list[str] = []
        sub(lambda body: got.append(body))
        await sub.start()
        await broker.publish("x", topic)
        await eventually(lambda: got == ["x"])
        assert sub in broker.subscribers
        await sub.stop()
        assert sub not in broker.subscribers


async def test_listener_and_static_membership(bootstrap: str, topic: str, group: str) -> None:
    events: list[str] = []

    class Listener:
        async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
            events.append(f"assigned {sorted(tp.partition for tp in assigned)}")

        def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
            events.append("revoked")

    broker = KafkaBroker(bootstrap)

    @broker.subscriber(
        topic,
        group_id=group,
        group_instance_id=f"{group}-member-1",
        listener=Listener(),
        auto_offset_reset="earliest",
    )
    async def handle(body: str) -> None: ...

    async with broker:
        await broker.start()
        assert "assigned [0]" in events


async def test_static_membership_with_several_consumers_gives_each_its_own_member_id(
    bootstrap: str, topic: str, group: str, create_topic: Any
) -> None:
    await create_topic(topic, 2)
    broker = KafkaBroker(bootstrap)
    got: list[int] = []

    sub = broker.subscriber(
        topic,
        group_id=group,
        max_workers=2,
        group_instance_id=f"{group}-pod",
        auto_offset_reset="earliest",
    )

    @sub
    async def handle(n: int) -> None:
        got.append(n)

    async with broker:
        await broker.start()
        for n in range(2):
            await broker.publish(n, topic, partition=n)
        await eventually(lambda: sorted(got) == [0, 1])
        # Both members stay in the group (one shared id would fence one of them).
        assert await broker.ready(timeout=5), (await broker.ready(timeout=5)).problems
        assert all(loop.running for loop in sub.consumers)


async def test_ack_first_commits_before_the_handler_finishes(
    bootstrap: str, topic: str, group: str
) -> None:
    broker = KafkaBroker(bootstrap, ack_policy=AckPolicy.ACK_FIRST)
    started = asyncio.Event()
    release = asyncio.Event()

    @broker.subscriber(
        topic, group_id=group, auto_offset_reset="earliest", auto_commit_interval_ms=100
    )
    async def handle(body: str) -> None:
        started.set()
        await release.wait()

    async with broker:
        await broker.start()
        await broker.publish("slow", topic)
        await asyncio.wait_for(started.wait(), 10)
        deadline = time.monotonic() + 10
        while sum((await committed_offsets(bootstrap, group)).values()) != 1:
            assert time.monotonic() < deadline, "ACK_FIRST did not commit while handling"
            await asyncio.sleep(0.1)
        release.set()


async def _latest_once(bootstrap: str, create_topic: Any) -> list[str]:
    topic, group = f"latest-{uuid.uuid4().hex[:8]}", f"g-{uuid.uuid4().hex[:8]}"
    await create_topic(topic, 2)
    broker = KafkaBroker(bootstrap)
    got: list[str] = []

    @broker.subscriber(topic, group_id=group, auto_offset_reset="latest")
    async def handle(body: str) -> None:
        got.append(body)

    async with broker:
        await broker.publish("before", topic, partition=0)
        await broker.start()
        await broker.publish("after-0", topic, partition=0)
        await broker.publish("after-1", topic, partition=1)
        await eventually(lambda: len(got) == 2, timeout=10)
    return sorted(got)


async def test_latest_gets_what_is_published_right_after_start(
    bootstrap: str, create_topic: Any
) -> None:
    for _ in range(3):  # the race it guards against shows up in some runs only
        assert await _latest_once(bootstrap, create_topic) == ["after-0", "after-1"]


async def test_the_error_log_names_the_handler_among_several(
    bootstrap: str, topic: str, caplog: pytest.LogCaptureFixture
) -> None:
    broker = KafkaBroker(bootstrap)
    sub = broker.subscriber(topic, auto_offset_reset="earliest")
    done: list[str] = []

    @sub(filter=lambda msg: msg.content_type == "text/plain")
    async def on_text(text: str) -> None:
        done.append(text)
        raise RuntimeError("text handler broke")

    @sub
    async def on_other(body: bytes) -> None:
        done.append("other")

    async with broker:
        await broker.start()
        await broker.publish("x", topic)
        await broker.publish(b"y", topic)
        await eventually(lambda: done == ["x", "other"])
    [line] = [r.getMessage() for r in caplog.records if "failed on" in r.getMessage()]
    assert "handler test_the_error_log_names_the_handler_among_several.<locals>.on_text" in line
