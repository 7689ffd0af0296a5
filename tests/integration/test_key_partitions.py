"""Issue 6 acceptance: keys land on the same partition numbers in memory as on real Kafka."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from topicflow.kafka import KafkaBroker, TestKafkaBroker

pytestmark = pytest.mark.kafka

KEYS = [f"user-{n}" for n in range(18)] + ["", "é-ünïcode-key"]
PARTITIONS = (3, 6, 12)


async def test_key_to_partition_mapping_is_the_same_as_on_real_kafka(
    bootstrap: str, topic: str, create_topic: Callable[[str, int], Awaitable[None]]
) -> None:
    assert len(KEYS) == 20
    topics = {f"{topic}-{count}": count for count in PARTITIONS}
    for name, count in topics.items():
        await create_topic(name, count)

    real: dict[tuple[str, str], int] = {}
    async with KafkaBroker(bootstrap) as broker:
        for name in topics:
            for key in KEYS:
                real[name, key] = (await broker.publish(b"v", name, key=key)).partition

    memory: dict[tuple[str, str], int] = {}
    async with TestKafkaBroker(KafkaBroker(bootstrap), partitions=topics) as broker:
        for name in topics:
            for key in KEYS:
                memory[name, key] = (await broker.publish(b"v", name, key=key)).partition

    assert memory == real
    for name, count in topics.items():
        # The keys really spread: a constant mapping would pass the comparison too.
        assert len({real[name, key] for key in KEYS}) > count // 2
