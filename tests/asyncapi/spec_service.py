"""A service described the FastStream way: ``App(broker, specification=AsyncAPI(...))``.

``topicflow docs gen tests.asyncapi.spec_service:app`` writes its document. Nothing
here connects to Kafka.
"""

from __future__ import annotations

from pydantic import BaseModel

from topicflow import App
from topicflow.kafka import KafkaBroker
from topicflow.specification import AsyncAPI, Contact, ExternalDocs, License, Tag

broker = KafkaBroker("127.0.0.1:9092", client_id="billing-service")

SPEC = AsyncAPI(
    title="Billing",
    version="1.2.0",
    description="Bills orders.",
    terms_of_service="https://example.com/terms",
    contact=Contact(
        name="Billing team", url="https://example.com/billing", email="bill@example.com"
    ),
    license=License(name="Apache-2.0", url="https://www.apache.org/licenses/LICENSE-2.0"),
    tags=[
        Tag(
            name="billing",
            description="Invoices",
            external_docs=ExternalDocs(url="https://example.com/tags"),
        ),
        {"name": "orders"},
    ],
    external_docs={"url": "https://example.com/docs", "description": "The handbook"},
    identifier="urn:example:billing",
)
app = App(broker, specification=SPEC)


class Order(BaseModel):
    id: int
    item: str


class Invoice(BaseModel):
    order: int
    total: float


@broker.subscriber("orders", group_id="billing")
@broker.publisher("invoices")
async def bill(order: Order) -> Invoice:
    """Price the order and issue its invoice."""
    return Invoice(order=order.id, total=9.5)
