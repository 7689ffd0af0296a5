"""Subscription: a model defined inside the test, with postponed annotations."""

from __future__ import annotations

import pytest
from faststream.kafka import KafkaBroker, TestKafkaBroker
from pydantic import BaseModel


@pytest.mark.asyncio
async def test_a_handler_declared_in_the_test() -> None:
    broker = KafkaBroker("localhost:9092")

    class Order(BaseModel):
        id: int

    @broker.subscriber("local-orders")
    async def handle(order: Order) -> int:
        return order.id

    async with TestKafkaBroker(broker) as br:
        await br.publish({"id": 5}, "local-orders")
        handle.mock.assert_called_once_with({"id": 5})
