"""Testing: the handler's mock records the decoded body of each call."""

import pytest
from faststream import FastStream
from faststream.kafka import KafkaBroker, TestKafkaBroker
from pydantic import BaseModel

broker = KafkaBroker("localhost:9092")
app = FastStream(broker)


class Payment(BaseModel):
    id: int
    cents: int


@broker.subscriber("payments")
async def handle(payment: Payment) -> None:
    pass


@pytest.mark.asyncio
async def test_the_mock_sees_each_call() -> None:
    async with TestKafkaBroker(broker) as br:
        await br.publish(Payment(id=1, cents=250), "payments")
        handle.mock.assert_called_once_with({"id": 1, "cents": 250})
        await br.publish({"id": 2, "cents": 99}, "payments")
        assert handle.mock.call_count == 2
        handle.mock.assert_called_with({"id": 2, "cents": 99})


@pytest.mark.asyncio
async def test_mocks_are_fresh_for_each_test_broker() -> None:
    async with TestKafkaBroker(broker):
        handle.mock.assert_not_called()
