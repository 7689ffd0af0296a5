"""The in-memory Kafka at the transport seam: partitions, offsets, groups, fetching."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from aiokafka.partitioner import murmur2 as aiokafka_murmur2

from topicflow.exceptions import CommitError, PublishError
from topicflow.kafka._memory import MemoryKafka, MemoryTransport, murmur2, partition_for_key
from topicflow.kafka._seam import ConsumerStopped
from topicflow.kafka._transport import ConsumerSpec, TopicPartition

TP0 = TopicPartition("t", 0)
TP1 = TopicPartition("t", 1)


class Listener:
    """A RebalanceHandler that records the callbacks in order."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, set[TopicPartition]]] = []

    async def on_revoked(self, revoked: set[TopicPartition]) -> None:
        self.calls.append(("revoked", set(revoked)))

    async def on_assigned(self, assigned: set[TopicPartition]) -> None:
        self.calls.append(("assigned", set(assigned)))


async def connected(cluster: MemoryKafka | None = None) -> MemoryTransport:
    transport = MemoryTransport(cluster or MemoryKafka())
    await transport.connect()
    return transport


async def send(transport: MemoryTransport, topic: str, value: bytes, **kw: Any) -> Any:
    options: dict[str, Any] = {"key": None, "partition": None, "timestamp_ms": None, "headers": []}
    options.update(kw)
    return await (await transport.send(topic, value, **options))


def values(batches: Any) -> list[bytes]:
    return [r.value for records in batches.values() for r in records]


# -- murmur2 and partitioning --------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        # Values asserted by the Java client's own tests (UtilsTest.testMurmur2).
        (b"21", -973932308),
        (b"foobar", -790332482),
        (b"a-little-bit-long-string", -985981536),
        (b"a-little-bit-longer-string", -1486304829),
        (b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971),
        (b"abc", 479470107),
    ],
)
def test_murmur2_matches_the_java_client(data: bytes, expected: int) -> None:
    assert murmur2(data) == expected


def test_partition_for_key_matches_aiokafkas_partitioner() -> None:
    for n in range(300):
        key = f"key-{n}".encode() * (n % 5 + 1)
        for partitions in (1, 3, 6, 12):
            expected = (aiokafka_murmur2(key) & 0x7FFFFFFF) % partitions
            assert partition_for_key(key, partitions) == expected


async def test_keyed_records_follow_the_hash_unkeyed_spread() -> None:
    cluster = MemoryKafka()
    cluster.create_topic("t", 6)
    transport = await connected(cluster)
    for n in range(20):
        key = f"k{n}".encode()
        meta = await send(transport, "t", b"v", key=key)
        assert meta.partition == partition_for_key(key, 6)
    unkeyed = {(await send(transport, "t", b"v")).partition for _ in range(200)}
    assert len(unkeyed) > 1  # random, like aiokafka's default partitioner


async def test_offsets_timestamps_and_records() -> None:
    transport = await connected()
    before = time.time_ns() // 1_000_000
    first = await send(transport, "t", b"a", headers=[("h", b"1")])
    second = await send(transport, "t", b"b", timestamp_ms=1234)
    assert (first.offset, second.offset) == (0, 1)
    assert first.timestamp >= before
    assert second.timestamp == 1234
    assert (first.timestamp_type, first.log_start_offset) == (0, 0)
    record = transport.cluster.records(TP0)[0]
    assert record.headers == (("h", b"1"),)
    assert (record.serialized_key_size, record.serialized_value_size) == (-1, 1)


async def test_bad_records_are_refused_with_publish_error() -> None:
    transport = await connected()
    with pytest.raises(PublishError, match="partition 3 does not exist"):
        await send(transport, "t", b"v", partition=3)
    with pytest.raises(PublishError, match="key or a value"):
        await transport.send("t", None, key=None, partition=None, timestamp_ms=None, headers=[])


async def test_a_batch_goes_to_one_partition_in_order() -> None:
    cluster = MemoryKafka()
    cluster.create_topic("t", 6)
    transport = await connected(cluster)

    async def batch(keys: list[bytes | None], partition: int | None = None) -> Any:
        records = [(f"v{n}".encode(), key, []) for n, key in enumerate(keys)]
        sent = await transport.send_batch("t", records, partition=partition, timestamp_ms=7)
        return await sent

    given = await batch([b"a", b"b"], partition=4)
    assert (given.partition, given.offset, given.timestamp) == (4, 0, 7)
    by_key = await batch([b"first", b"other", None])
    assert by_key.partition == partition_for_key(b"first", 6)
    records = cluster.records(by_key.topic_partition)[by_key.offset :]
    assert [(r.offset - by_key.offset, r.value, r.key) for r in records] == [
        (0, b"v0", b"first"),
        (1, b"v1", b"other"),  # not moved to its own key's partition
        (2, b"v2", None),
    ]
    unkeyed = {(await batch([None, None])).partition for _ in range(100)}
    assert len(unkeyed) > 1  # random, like a single unkeyed record
    with pytest.raises(PublishError, match="at least one record"):
        await batch([])


def test_a_topic_keeps_its_partition_count() -> None:
    cluster = MemoryKafka()
    cluster.create_topic("t", 3)
    cluster.create_topic("t", 3)
    with pytest.raises(Exception, match="already exists with 3 partitions"):
        cluster.create_topic("t", 4)


# -- fetching -------------------------------------------------------------------


async def test_getmany_honours_timeout_and_max_records() -> None:
    transport = await connected()
    consumer = transport.consumer(
        ConsumerSpec(("t",), None, {"auto_offset_reset": "earliest"}), Listener()
    )
    await consumer.start()
    started = time.monotonic()
    assert await consumer.getmany(50, None) == {}
    assert time.monotonic() - started >= 0.045
    for n in range(5):
        await send(transport, "t", str(n).encode())
    assert values(await consumer.getmany(50, 2)) == [b"0", b"1"]
    assert values(await consumer.getmany(50, None)) == [b"2", b"3", b"4"]
    await consumer.stop()
    with pytest.raises(ConsumerStopped):
        await consumer.getmany(50, None)


async def test_empty_polls_are_short_while_the_cluster_is_stopping() -> None:
    transport = await connected()
    consumer = transport.consumer(ConsumerSpec(("t",), None, {}), Listener())
    await consumer.start()
    fetch = asyncio.ensure_future(consumer.getmany(60_000, None))
    await asyncio.sleep(0)
    with transport.cluster.stopping():
        assert await asyncio.wait_for(fetch, 1) == {}
        assert await asyncio.wait_for(consumer.getmany(60_000, None), 1) == {}
    await consumer.stop()


async def test_a_waiting_getmany_wakes_on_a_new_record() -> None:
    transport = await connected()
    consumer = transport.consumer(ConsumerSpec(("t",), None, {}), Listener())
    await consumer.start()
    fetch = asyncio.ensure_future(consumer.getmany(5_000, None))
    await asyncio.sleep(0)
    await send(transport, "t", b"x")
    assert values(await asyncio.wait_for(fetch, 1)) == [b"x"]
    await consumer.stop()


async def test_a_bounded_batch_takes_partitions_in_turn() -> None:
    cluster = MemoryKafka()
    cluster.create_topic("t", 2)
    transport = await connected(cluster)
    for n in range(4):
        await send(transport, "t", f"p0-{n}".encode(), partition=0)
        await send(transport, "t", f"p1-{n}".encode(), partition=1)
    consumer = transport.consumer(
        ConsumerSpec(("t",), None, {"auto_offset_reset": "earliest"}), Listener()
    )
    await consumer.start()
    first = await consumer.getmany(10, 2)
    second = await consumer.getmany(10, 2)
    assert set(first) != set(second)  # neither partition waits for the other to drain


async def test_latest_and_earliest() -> None:
    transport = await connected()
    await send(transport, "t", b"old")
    earliest = transport.consumer(
        ConsumerSpec(("t",), "g1", {"auto_offset_reset": "earliest"}), Listener()
    )
    latest = transport.consumer(
        ConsumerSpec(("t",), "g2", {"auto_offset_reset": "latest"}), Listener()
    )
    await earliest.start()
    await latest.start()
    await send(transport, "t", b"new")
    assert values(await earliest.getmany(10, None)) == [b"old", b"new"]
    assert values(await latest.getmany(10, None)) == [b"new"]


async def test_seek_pause_and_resume() -> None:
    transport = await connected()
    consumer = transport.consumer(
        ConsumerSpec(("t",), None, {"auto_offset_reset": "earliest"}), Listener()
    )
    await consumer.start()
    for n in range(3):
        await send(transport, "t", str(n).encode())
    assert values(await consumer.getmany(10, None)) == [b"0", b"1", b"2"]
    consumer.seek(TP0, 1)
    consumer.pause(TP0)
    assert await consumer.getmany(10, None) == {}
    consumer.resume(TP0)
    assert values(await consumer.getmany(10, None)) == [b"1", b"2"]


# -- groups ---------------------------------------------------------------------


async def test_group_members_share_partitions_round_robin_with_callbacks() -> None:
    cluster = MemoryKafka()
    cluster.create_topic("t", 2)
    transport = await connected(cluster)
    spec = ConsumerSpec(("t",), "g", {"auto_offset_reset": "earliest"})
    first_listener, second_listener = Listener(), Listener()
    first = transport.consumer(spec, first_listener)
    second = transport.consumer(spec, second_listener)
    await first.start()
    await first.getmany(10, None)
    # As aiokafka: the first join revokes nothing, then assigns.
    assert first_listener.calls == [("revoked", set()), ("assigned", {TP0, TP1})]

    await second.start()
    await second.getmany(10, None)
    await first.getmany(10, None)
    assert first_listener.calls[2:] == [("revoked", {TP0, TP1}), ("assigned", {TP0})]
    assert second_listener.calls == [("revoked", set()), ("assigned", {TP1})]

    for n in range(4):
        await send(transport, "t", f"{n}".encode(), partition=n % 2)
    assert values(await first.getmany(10, None)) == [b"0", b"2"]
    assert values(await second.getmany(10, None)) == [b"1", b"3"]

    await second.stop()  # leaving calls nothing on the leaver, the rest rebalance
    await first.getmany(10, None)
    assert first_listener.calls[4:] == [("revoked", {TP0}), ("assigned", {TP0, TP1})]
    assert second_listener.calls[2:] == []


async def test_a_partition_moves_only_after_its_owner_revoked_and_from_the_commit() -> None:
    cluster = MemoryKafka()
    cluster.create_topic("t", 2)
    transport = await connected(cluster)
    spec = ConsumerSpec(("t",), "g", {"auto_offset_reset": "earliest"})
    for n in range(4):
        await send(transport, "t", f"{n}".encode(), partition=1)
    first = transport.consumer(spec, Listener())
    await first.start()
    assert values(await first.getmany(10, 2)) == [b"0", b"1"]
    await first.commit({TP1: 1})  # only "0" is finished

    second_listener = Listener()
    second = transport.consumer(spec, second_listener)
    await second.start()
    # Round robin gives TP1 to the second member, but the first still holds it.
    assert await second.getmany(10, None) == {}
    assert second_listener.calls == [("revoked", set()), ("assigned", {TP1})]
    assert await first.getmany(10, None) == {}  # revokes both, takes TP0 only
    # Now the second fetches TP1, from the committed offset: "1" comes again.
    assert values(await second.getmany(10, None)) == [b"1", b"2", b"3"]


async def test_each_group_gets_each_record() -> None:
    transport = await connected()
    g1 = transport.consumer(
        ConsumerSpec(("t",), "g1", {"auto_offset_reset": "earliest"}), Listener()
    )
    g2 = transport.consumer(
        ConsumerSpec(("t",), "g2", {"auto_offset_reset": "earliest"}), Listener()
    )
    await g1.start()
    await g2.start()
    await send(transport, "t", b"x")
    assert values(await g1.getmany(10, None)) == [b"x"]
    assert values(await g2.getmany(10, None)) == [b"x"]


async def test_commits_belong_to_the_group_and_need_the_partition() -> None:
    cluster = MemoryKafka()
    transport = await connected(cluster)
    consumer = transport.consumer(ConsumerSpec(("t",), "g", {}), Listener())
    await consumer.start()
    await consumer.getmany(10, None)
    await consumer.commit({TP0: 3})
    assert cluster.committed("g") == {TP0: 3}
    with pytest.raises(CommitError, match="not assigned"):
        await consumer.commit({TopicPartition("other", 0): 1})
    groupless = transport.consumer(ConsumerSpec(("t",), None, {}), Listener())
    await groupless.start()
    with pytest.raises(CommitError, match="without a group_id"):
        await groupless.commit({TP0: 1})
    await consumer.stop()
    with pytest.raises(CommitError, match="stopped"):
        await consumer.commit({TP0: 4})


async def test_pattern_subscriptions_see_new_topics() -> None:
    transport = await connected()
    grouped = transport.consumer(
        ConsumerSpec((), "g", {"auto_offset_reset": "latest"}, pattern=r"orders\..*"), Listener()
    )
    alone = transport.consumer(
        ConsumerSpec((), None, {"auto_offset_reset": "latest"}, pattern=r"orders\..*"), Listener()
    )
    await grouped.start()
    await alone.start()
    await send(transport, "orders.eu", b"1")  # created by this publish
    await send(transport, "payments", b"2")
    assert values(await grouped.getmany(10, None)) == [b"1"]
    assert values(await alone.getmany(10, None)) == [b"1"]


async def test_manual_partitions() -> None:
    cluster = MemoryKafka()
    cluster.create_topic("t", 2)
    transport = await connected(cluster)
    listener = Listener()
    consumer = transport.consumer(
        ConsumerSpec((), None, {"auto_offset_reset": "earliest"}, partitions=(TP1,)), listener
    )
    await consumer.start()
    await send(transport, "t", b"p0", partition=0)
    await send(transport, "t", b"p1", partition=1)
    assert values(await consumer.getmany(10, None)) == [b"p1"]
    assert listener.calls == []  # as aiokafka's assign(): no rebalance callbacks
