"""The service: its module imports nothing from the tests."""

from faststream import FastStream, Logger
from faststream.kafka import KafkaBroker
from pydantic import BaseModel

broker = KafkaBroker("localhost:9092")
app = FastStream(broker)


class Order(BaseModel):
    id: int
    amount: float


class Invoice(BaseModel):
    order_id: int
    total: float


@broker.subscriber("orders", group_id="billing")
@broker.publisher("invoices")
async def bill(order: Order, logger: Logger) -> Invoice:
    logger.info("billing order %s", order.id)
    return Invoice(order_id=order.id, total=round(order.amount * 1.2, 2))
