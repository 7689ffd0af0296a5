"""Batches: `max_records` and `batch_timeout_ms`, and a single publish to a batch subscriber."""

import pytest
from faststream import FastStream
from faststream.kafka import KafkaBroker, TestKafkaBroker

broker = KafkaBroker("localhost:9092")
app = FastStream(broker)


@broker.subscriber("ticks", batch=True, max_records=100, batch_timeout_ms=200)
async def on_ticks(ticks: list[int]) -> None:
    pass


@pytest.mark.asyncio
async def test_one_message_is_a_batch_of_one() -> None:
    async with TestKafkaBroker(broker) as br:
        await br.publish(1, "ticks")
        on_ticks.mock.assert_called_once_with([1])
