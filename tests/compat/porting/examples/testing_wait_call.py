"""Testing: `wait_call` waits for the handler, with a timeout in seconds."""

import asyncio

import pytest
from faststream import FastStream
from faststream.kafka import KafkaBroker, TestKafkaBroker

broker = KafkaBroker("localhost:9092")
app = FastStream(broker)


@broker.subscriber("slow-jobs")
async def handle(job: str) -> None:
    await asyncio.sleep(0.01)


@pytest.mark.asyncio
async def test_wait_for_the_call() -> None:
    async with TestKafkaBroker(broker) as br:
        await br.publish("job-1", "slow-jobs")
        await handle.wait_call(3)
        handle.mock.assert_called_once_with("job-1")
