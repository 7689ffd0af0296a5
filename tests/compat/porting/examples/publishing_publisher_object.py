"""Publishing: a publisher object, used in the handler, and its mock in the test."""

import pytest
from faststream import FastStream
from faststream.kafka import KafkaBroker, TestKafkaBroker

broker = KafkaBroker("localhost:9092")
app = FastStream(broker)
to_shipping = broker.publisher("shipping")


@broker.subscriber("paid-orders")
async def ship(order_id: int) -> None:
    await to_shipping.publish({"ship": order_id}, headers={"priority": "high"})


@pytest.mark.asyncio
async def test_the_publisher_records_what_it_sent() -> None:
    async with TestKafkaBroker(broker) as br:
        await br.publish(4, "paid-orders")
        to_shipping.mock.assert_called_once_with({"ship": 4})
