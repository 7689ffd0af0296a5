"""topicflow and a FastStream 0.7 service exchange messages and replies on one real Kafka.

The FastStream side runs in its own venv as a subprocess (see ``conftest.py``);
the topicflow side runs here. Both directions are covered: model bodies with
headers and correlation ids, and request/reply.
"""

from __future__ import annotations

import asyncio
import importlib.util
import uuid

import pytest
from pydantic import BaseModel

from tests.compat.conftest import FastStreamService
from topicflow.kafka import KafkaBroker, KafkaMessage

# The first test may create FastStream's venv (a pip install): more time than usual.
pytestmark = [pytest.mark.kafka, pytest.mark.compat, pytest.mark.timeout(900)]

EARLY = {"auto_offset_reset": "earliest"}


class Order(BaseModel):
    id: int
    item: str
    price: float


class Receipt(BaseModel):
    order_id: int
    total: float
    by: str


def test_faststream_is_not_importable_in_the_project_venv() -> None:
    assert importlib.util.find_spec("faststream") is None, (
        "FastStream is a test-only tool living in .cache/faststream-venv; "
        "it must not be installed into the project's venv"
    )


async def test_topicflow_publishes_a_model_with_headers_to_faststream(
    bootstrap: str, faststream_service: FastStreamService
) -> None:
    topic = faststream_service.config["topics"]["to_faststream"]
    async with KafkaBroker(bootstrap) as broker:
        await broker.publish(
            Order(id=1, item="book", price=12.5),
            topic,
            key=b"customer-7",
            headers={"x-text": "héllo", "x-bytes": b"raw-bytes"},
            correlation_id="tf-to-fs-1",
        )
    event = await faststream_service.wait_for("received", correlation_id="tf-to-fs-1")
    assert event["body"] == {"id": 1, "item": "book", "price": 12.5}  # validated as Order
    headers = event["headers"]
    assert headers["x-text"] == "héllo"
    # FastStream decodes every header value as UTF-8 text.
    assert headers["x-bytes"] == "raw-bytes"
    assert headers["content-type"] == "application/json"
    assert headers["correlation_id"] == "tf-to-fs-1"
    assert event["reply_to"] == ""


async def test_faststream_publishes_a_model_with_headers_to_topicflow(
    bootstrap: str, group: str, faststream_service: FastStreamService
) -> None:
    topic = faststream_service.config["topics"]["to_topicflow"]
    received: asyncio.Queue[tuple[Order, KafkaMessage]] = asyncio.Queue()
    broker = KafkaBroker(bootstrap)

    @broker.subscriber(topic, group_id=group, **EARLY)
    async def on_order(order: Order, msg: KafkaMessage) -> None:
        await received.put((order, msg))

    async with broker:
        await broker.start()
        faststream_service.send(
            cmd="publish",
            topic=topic,
            body={"id": 2, "item": "pen", "price": 1.25},
            headers={"x-text": "héllo", "x-trace": "abc-123"},
            correlation_id="fs-to-tf-2",
        )
        order, msg = await asyncio.wait_for(received.get(), 30)
    assert type(order) is Order
    assert order == Order(id=2, item="pen", price=1.25)
    assert msg.correlation_id == "fs-to-tf-2"
    assert msg.headers["x-text"] == "héllo"
    assert msg.headers["x-trace"] == "abc-123"
    assert msg.content_type == "application/json"
    assert msg.reply_to == ""


async def test_topicflow_request_is_answered_by_faststream(
    bootstrap: str, faststream_service: FastStreamService
) -> None:
    topic = faststream_service.config["topics"]["faststream_rpc"]
    async with KafkaBroker(bootstrap) as broker:
        reply = await broker.request(Order(id=3, item="ink", price=2.0), topic, timeout=30)
    served = await faststream_service.wait_for("served", correlation_id=reply.correlation_id)
    assert served["body"] == {"id": 3, "item": "ink", "price": 2.0}
    assert served["reply_to"]  # topicflow's reply topic, where FastStream answered
    receipt = Receipt.model_validate_json(reply.body)
    assert receipt == Receipt(order_id=3, total=6.0, by="faststream")
    assert reply.content_type == "application/json"


async def test_faststream_request_is_answered_by_topicflow(
    bootstrap: str, group: str, faststream_service: FastStreamService
) -> None:
    topic = faststream_service.config["topics"]["topicflow_rpc"]
    broker = KafkaBroker(bootstrap)

    @broker.subscriber(topic, group_id=group, **EARLY)
    async def serve(order: Order) -> Receipt:
        return Receipt(order_id=order.id, total=order.price * 10, by="topicflow")

    correlation_id = f"fs-rpc-{uuid.uuid4().hex[:8]}"
    async with broker:
        await broker.start()
        faststream_service.send(
            cmd="request",
            topic=topic,
            body={"id": 4, "item": "cup", "price": 3.5},
            correlation_id=correlation_id,
        )
        reply = await faststream_service.wait_for("reply", correlation_id=correlation_id)
    assert reply["body"] == {"order_id": 4, "total": 35.0, "by": "topicflow"}
    assert reply["headers"]["content-type"] == "application/json"
    # FastStream 0.7.8 has no request() on a real Kafka (only under its test client):
    # the service falls back to publishing with reply_to and a reply subscriber.
    assert reply["via"] == "reply_to"
    unsupported = faststream_service.find("request_unsupported")
    assert unsupported is not None
    assert "doesn't support `request`" in unsupported["error"]
