"""AsyncAPI from code: contact, license, tags and the server from the broker."""

from faststream import FastStream
from faststream.kafka import KafkaBroker
from faststream.specification import AsyncAPI, Contact, License, Tag

broker = KafkaBroker("localhost:9092", description="The main cluster")
app = FastStream(
    broker,
    specification=AsyncAPI(
        title="Billing",
        version="0.1.0",
        description="Bills orders",
        contact=Contact(name="Billing team", email="billing@example.com"),
        license=License(name="MIT", url="https://opensource.org/license/mit"),
        tags=[Tag(name="billing", description="money in")],
    ),
)


@broker.subscriber("billing-orders")
async def bill(order_id: int) -> None:
    pass


def test_the_info_block() -> None:
    schema = app.schema.to_specification().to_jsonable()
    info = schema["info"]
    assert info["description"] == "Bills orders"
    assert info["contact"] == {"name": "Billing team", "email": "billing@example.com"}
    assert info["license"]["name"] == "MIT"
    assert [tag["name"] for tag in info["tags"]] == ["billing"]


def test_the_server_is_the_broker() -> None:
    schema = app.schema.to_specification().to_jsonable()
    (server,) = schema["servers"].values()
    assert server["host"] == "localhost:9092"
    assert server["protocol"] == "kafka"
    assert server["description"] == "The main cluster"
