"""A shop service that uses every documented feature: routers with prefixes, a
pattern subscription, a batch subscriber, publishers and SASL security.

The AsyncAPI tests document it: ``topicflow docs gen tests.asyncapi.service:app``.
Nothing here connects to Kafka.
"""

from __future__ import annotations

import dataclasses
import enum
from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel, Field

from topicflow import App, Path
from topicflow.kafka import KafkaBroker, KafkaMessage, KafkaRouter
from topicflow.security import SASLScram512

broker = KafkaBroker(
    "127.0.0.1:9092,127.0.0.1:9093",
    client_id="shop-service",
    security=SASLScram512("shop", "not-a-real-secret", use_ssl=True),
)
app = App(
    broker,
    title="Shop",
    version="2.1.0",
    description="Takes orders, bills them and ships them.",
    tags=["orders", {"name": "billing", "description": "Invoices and payments"}],
)

#: Every topic the documentation must show, as the service consumes and produces it.
DOCUMENTED_TOPICS = [
    "orders",
    "shipments",
    "shipments.express",
    "notes",
    "audit.raw",
    "payments",
    "categories",
    "invoices",
    "shipment.notices",
    "alerts",
    "warehouse.stock",
    "warehouse.restock",
    "warehouse.logs.{service}",
]
#: Topics declared with include_in_schema=False.
HIDDEN_TOPICS = ["internal.metrics", "internal.trace"]


class Status(enum.Enum):
    NEW = "new"
    PAID = "paid"


class Address(BaseModel):
    """Where a parcel goes."""

    street: str
    city: str
    postcode: str | None = None


class Customer(BaseModel):
    name: str
    email: str = Field(description="Where the invoice is sent.")
    address: Address


class LineItem(BaseModel):
    sku: str
    qty: int = 1
    price: Decimal


class Order(BaseModel):
    """An order as the web shop submits it."""

    id: int
    customer: Customer
    lines: list[LineItem]
    status: Status = Status.NEW
    placed_at: datetime
    note: str | None = None


class Invoice(BaseModel):
    order_id: int
    total: Decimal
    bill_to: Customer


@dataclasses.dataclass
class Shipment:
    order_id: int
    carrier: str
    eta: datetime


class ShipmentNotice(BaseModel):
    order_id: int
    message: str


class Alert(BaseModel):
    level: str
    text: str


class Category(BaseModel):
    name: str
    children: list[Category] = []


invoices = broker.publisher("invoices", title="Invoices", description="One per billed order.")
notices = broker.publisher("shipment.notices", schema=ShipmentNotice)
alerts = broker.publisher(
    "alerts", title="Alerts", description="Published by hand when stock runs low.", schema=Alert
)
trace = broker.publisher("internal.trace", include_in_schema=False)


@broker.subscriber("orders", group_id="billing", title="Bill orders")
@invoices
async def bill(order: Order) -> Invoice | None:
    """Bill an order once it is placed; orders without lines are skipped."""
    if not order.lines:
        return None
    total = sum((line.price * line.qty for line in order.lines), Decimal())
    return Invoice(order_id=order.id, total=total, bill_to=order.customer)


@broker.subscriber("orders", group_id="audit")
@trace
async def audit(order: Order, msg: KafkaMessage) -> None:
    """Keep a copy of every order for the auditors."""


@broker.subscriber(
    "shipments",
    "shipments.express",
    group_id="shipping",
    description="Tell the customer when a parcel leaves the warehouse.",
)
@notices
async def ship(shipment: Shipment) -> dict[str, object]:
    return {"order_id": shipment.order_id, "message": f"on its way with {shipment.carrier}"}


@broker.subscriber("notes")
async def note(text: str) -> None:
    """Free-text notes from the support team."""


@broker.subscriber("audit.raw")
async def raw(body: bytes) -> None:
    """Opaque records from the legacy system."""


@broker.subscriber("payments", group_id="billing")
async def pay(order_id: int, amount: float, reference: str | None = None) -> None:
    """A payment for an order (the fields of one JSON object)."""


@broker.subscriber("categories")
async def categorise(category: Category) -> None:
    """The product category tree."""


@broker.subscriber("internal.metrics", include_in_schema=False)
async def metrics(sample: dict[str, float]) -> None:
    """Not part of the public contract."""


class StockLevel(BaseModel):
    sku: str
    on_hand: int


class Restock(BaseModel):
    sku: str
    qty: int


warehouse = KafkaRouter(prefix="warehouse.")
restock = warehouse.publisher("restock", schema=Restock)


@warehouse.subscriber("stock", group_id="stock", batch=True, max_records=100)
@restock
async def count_stock(levels: list[StockLevel]) -> None:
    """Stock levels, a batch at a time."""


@warehouse.subscriber(pattern="logs.{service}", group_id="log-reader")
async def read_logs(line: str, service: str = Path()) -> None:
    """Log lines of every warehouse service."""


broker.include_router(warehouse)
