"""An order-pricing service: the README's example, run by ./scripts/demo.

``orders`` -> price() -> ``orders.priced`` -> notify()

Run it with ``topicflow run examples.orders:app`` (Kafka at $KAFKA_BOOTSTRAP,
default 127.0.0.1:9092).
"""

from __future__ import annotations

import logging
import os

from pydantic import BaseModel

from topicflow import App
from topicflow.kafka import KafkaBroker

PRICES = {"book": 12.5, "pen": 1.2, "lamp": 30.0}

broker = KafkaBroker(os.environ.get("KAFKA_BOOTSTRAP", "127.0.0.1:9092"))
app = App(broker, title="orders")
log = logging.getLogger("orders")


class Order(BaseModel):
    id: int
    item: str
    qty: int = 1


class PricedOrder(BaseModel):
    id: int
    item: str
    qty: int
    total: float


@broker.subscriber("orders", group_id="order-service", auto_offset_reset="earliest")
@broker.publisher("orders.priced")
async def price(order: Order) -> PricedOrder:
    total = PRICES.get(order.item, 0.0) * order.qty
    log.info("priced order %d: %d x %s = %.2f", order.id, order.qty, order.item, total)
    return PricedOrder(**order.model_dump(), total=total)


@broker.subscriber("orders.priced", group_id="notifier", auto_offset_reset="earliest")
async def notify(order: PricedOrder) -> None:
    log.info("notified customer: order %d costs %.2f", order.id, order.total)


@app.after_startup
async def ready() -> None:
    log.info("order service ready")
