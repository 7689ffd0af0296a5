"""Publishing: `broker.publish` from inside a handler."""

import pytest
from faststream import FastStream
from faststream.kafka import KafkaBroker, TestKafkaBroker

broker = KafkaBroker("localhost:9092")
app = FastStream(broker)


@broker.subscriber("raw-orders")
async def accept(order_id: int) -> None:
    await broker.publish({"order_id": order_id, "status": "accepted"}, "order-status")


@broker.subscriber("order-status")
async def track(body: dict) -> None:
    pass


@pytest.mark.asyncio
async def test_the_status_is_published() -> None:
    async with TestKafkaBroker(broker) as br:
        await br.publish(11, "raw-orders")
        track.mock.assert_called_once_with({"order_id": 11, "status": "accepted"})
