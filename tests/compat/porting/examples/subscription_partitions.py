"""Subscription: explicit partitions instead of a group."""

import pytest
from faststream import FastStream
from faststream.kafka import KafkaBroker, TestKafkaBroker, TopicPartition
from faststream.kafka.annotations import KafkaMessage

broker = KafkaBroker("localhost:9092")
app = FastStream(broker)
partitions: list[int] = []


@broker.subscriber(partitions=[TopicPartition("metrics", 0)])
async def on_metric(value: float, msg: KafkaMessage) -> None:
    partitions.append(msg.raw_message.partition)


@pytest.mark.asyncio
async def test_partition_zero_is_read() -> None:
    async with TestKafkaBroker(broker) as br:
        await br.publish(0.5, "metrics", partition=0)
        on_metric.mock.assert_called_once_with(0.5)
    assert partitions == [0]
