"""Topic declarations: created at start on the real Kafka, partition counts in memory."""

from __future__ import annotations

import uuid

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from tests.helpers import eventually
from topicflow import SetupError
from topicflow.kafka import KafkaBroker, KafkaMessage, KafkaRouter, TestKafkaBroker, Topic


async def _partitions(bootstrap: str, topic: str) -> int:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        [description] = await admin.describe_topics([topic])
    finally:
        await admin.close()
    return len(description["partitions"])


@pytest.mark.kafka
async def test_declared_topics_are_created_at_start_with_their_partitions(
    bootstrap: str,
) -> None:
    t = uuid.uuid4().hex[:8]
    router = KafkaRouter(prefix=f"r{t}.")
    out = router.publisher(Topic("out", num_partitions=2))
    got: list[int] = []

    @router.subscriber(Topic("in", num_partitions=3), auto_offset_reset="earliest")
    @out
    async def handle(n: int, msg: KafkaMessage) -> int:
        got.append(msg.partition)
        return n

    broker = KafkaBroker(bootstrap, routers=[router])
    async with broker:
        await broker.start()
        assert await _partitions(bootstrap, f"r{t}.in") == 3
        assert await _partitions(bootstrap, f"r{t}.out") == 2
        await broker.publish(1, f"r{t}.in", partition=2)
        await eventually(lambda: got == [2])
    # A second start leaves the existing topics as they are.
    async with broker:
        await broker.start()
        assert await _partitions(bootstrap, f"r{t}.in") == 3


async def test_the_memory_broker_uses_declared_partition_counts() -> None:
    broker = KafkaBroker()
    seen: set[int] = set()

    @broker.subscriber(Topic("orders", num_partitions=4), group_id="g")
    async def handle(n: int, msg: KafkaMessage) -> None:
        seen.add(msg.partition)

    async with TestKafkaBroker(broker) as br:
        for n in range(40):
            await br.publish(n, "orders", key=str(n))
    assert seen == {0, 1, 2, 3}


def test_topic_is_a_name() -> None:
    topic = Topic("orders", num_partitions=6, replication_factor=3, config={"retention.ms": "1"})
    assert topic == "orders"
    assert f"svc.{topic}" == "svc.orders"
    assert topic.num_partitions == 6
    assert topic.renamed("svc.orders").config == {"retention.ms": "1"}
    with pytest.raises(SetupError, match="at least 1"):
        Topic("bad", num_partitions=0)
