# examples/routers.py
"""Routers: a billing module declared on its own router, included under a prefix."""

from __future__ import annotations

import os

from pydantic import BaseModel

from topicflow import App, BaseMiddleware, Depends
from topicflow.kafka import KafkaBroker, KafkaRouter


class Order(BaseModel):
    id: int
    amount: float


class Invoice(BaseModel):
    order_id: int
    total: float


class Counting(BaseMiddleware):
    """Counts the messages this router's handlers see."""

    handled = 0

    async def on_receive(self) -> None:
        Counting.handled += 1


def tax_rate() -> float:
    return 0.2


billing = KafkaRouter(prefix="billing.", middlewares=[Counting])


@billing.subscriber("orders", group_id="billing", auto_offset_reset="earliest")
@billing.publisher("invoices")
async def bill(order: Order, rate: float = Depends(tax_rate)) -> Invoice:
    return Invoice(order_id=order.id, total=round(order.amount * (1 + rate), 2))


broker = KafkaBroker(os.environ.get("KAFKA_BOOTSTRAP", "127.0.0.1:9092"))
# Consumes shop.billing.orders and publishes to shop.billing.invoices.
broker.include_router(billing, prefix="shop.")
app = App(broker)
