"""Batches: a batch handler takes `list[Model]`, and a `Logger` beside it."""

import pytest
from faststream import FastStream, Logger
from faststream.kafka import KafkaBroker, TestKafkaBroker
from pydantic import BaseModel

broker = KafkaBroker("localhost:9092")
app = FastStream(broker)
sizes: list[int] = []


class Reading(BaseModel):
    sensor: str
    value: float


@broker.subscriber("readings", batch=True)
async def store(readings: list[Reading], logger: Logger) -> None:
    logger.info("storing %d readings", len(readings))
    sizes.append(len(readings))


@pytest.mark.asyncio
async def test_a_batch_of_models() -> None:
    async with TestKafkaBroker(broker) as br:
        await br.publish_batch(
            Reading(sensor="a", value=1.0), Reading(sensor="b", value=2.5), topic="readings"
        )
        store.mock.assert_called_once_with(
            [{"sensor": "a", "value": 1.0}, {"sensor": "b", "value": 2.5}]
        )
    assert sizes == [2]
