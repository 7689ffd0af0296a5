"""The examples in examples/ run against the real Kafka, and the docs show them verbatim."""

from __future__ import annotations

import importlib
import uuid
from pathlib import Path

import pytest

from tests.helpers import eventually, find_record
from topicflow.kafka import KafkaBroker

ROOT = Path(__file__).resolve().parents[2]
SHOWN_IN = {
    "routers.py": "routers.md",
    "request_reply.py": "request-reply.md",
    "middlewares.py": "middlewares.md",
}


@pytest.mark.parametrize("example", sorted(SHOWN_IN))
def test_docs_show_the_example_verbatim(example: str) -> None:
    code = (ROOT / "examples" / example).read_text()
    assert code in (ROOT / "docs" / SHOWN_IN[example]).read_text()


@pytest.mark.kafka
async def test_routers_example(bootstrap: str) -> None:
    module = importlib.import_module("examples.routers")
    order_id = uuid.uuid4().int % 10**9
    async with module.broker:
        await module.broker.start()
        await module.broker.publish(module.Order(id=order_id, amount=10.0), "shop.billing.orders")
        await eventually(lambda: module.Counting.handled >= 1)
    invoice = await find_record(
        bootstrap, "shop.billing.invoices", lambda r: f'"order_id":{order_id}'.encode() in r.value
    )
    assert module.Invoice.model_validate_json(invoice.value).total == 12.0


@pytest.mark.kafka
async def test_request_reply_example() -> None:
    module = importlib.import_module("examples.request_reply")
    quote = await module.main()
    assert quote == module.Quote(sku="pen", total=10.0)


@pytest.mark.kafka
async def test_middlewares_example(bootstrap: str) -> None:
    module = importlib.import_module("examples.middlewares")
    name = f"Ada-{uuid.uuid4().hex[:6]}"
    async with module.broker, KafkaBroker(bootstrap) as producer:
        await module.broker.start()
        await producer.publish(name, "names")
        await eventually(lambda: len(module.TIMINGS) >= 1)
    greeting = await find_record(
        bootstrap, "greetings", lambda r: r.value == f"Hello, {name}!".encode()
    )
    assert dict(greeting.headers)["x-service"] == b"greeter"
