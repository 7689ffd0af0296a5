"""The tests of the service, in their own module, as a project keeps them."""

import pytest
from faststream.kafka import TestKafkaBroker

from billing_service.app import Order, bill, broker


@broker.subscriber("invoices")
async def invoices(body: dict) -> None:
    pass


@pytest.mark.asyncio
async def test_an_order_is_billed() -> None:
    async with TestKafkaBroker(broker) as br:
        await br.publish(Order(id=3, amount=10.0), "orders")
        bill.mock.assert_called_once_with({"id": 3, "amount": 10.0})
        invoices.mock.assert_called_once_with({"order_id": 3, "total": 12.0})
