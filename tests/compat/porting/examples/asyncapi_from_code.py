"""AsyncAPI from code: the application's specification as a JSON-ready dict."""

import pytest
from faststream import FastStream
from faststream.kafka import KafkaBroker
from faststream.specification import AsyncAPI
from pydantic import BaseModel

broker = KafkaBroker("localhost:9092")
app = FastStream(broker, specification=AsyncAPI(title="Orders", version="1.2.0"))


class Order(BaseModel):
    id: int
    item: str


@broker.subscriber("orders-in", title="OrdersIn", description="New orders")
@broker.publisher("orders-out")
async def handle(order: Order) -> Order:
    return order


def test_the_document_names_the_service_and_its_channels() -> None:
    schema = app.schema.to_specification().to_jsonable()
    assert schema["asyncapi"].startswith("3.")
    assert schema["info"]["title"] == "Orders"
    assert schema["info"]["version"] == "1.2.0"
    addresses = {channel["address"] for channel in schema["channels"].values()}
    assert addresses == {"orders-in", "orders-out"}
    assert "Order" in schema["components"]["schemas"]


@pytest.mark.parametrize("field", ["id", "item"])
def test_the_payload_lists_the_model_fields(field: str) -> None:
    schema = app.schema.to_specification().to_jsonable()
    assert field in schema["components"]["schemas"]["Order"]["properties"]
