"""One trace across a FastStream 0.7 service and a topicflow service, each with its own
telemetry middleware and tracer provider, on one real Kafka.

The FastStream side (``faststream_otel_service.py``) runs in FastStream's venv and
prints the spans it finishes; the topicflow side runs here, its spans in memory.
The trace context and baggage travel only in the record headers each writes.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.compat.conftest import FastStreamService
from tests.telemetry import Telemetry, parent_id
from topicflow.kafka import KafkaBroker
from topicflow.opentelemetry import CurrentBaggage

pytestmark = [pytest.mark.kafka, pytest.mark.compat, pytest.mark.timeout(900)]

SCRIPT = Path(__file__).with_name("faststream_otel_service.py")


@pytest.fixture
def telemetry() -> Iterator[Telemetry]:
    recorded = Telemetry()
    yield recorded
    recorded.shutdown()


@pytest.fixture(scope="module")
def faststream_otel(bootstrap: str, faststream_python: Path) -> Iterator[FastStreamService]:
    tag = uuid.uuid4().hex[:10]
    topics = {name: f"compat-otel-{name.replace('_', '-')}-{tag}" for name in ("to_faststream",)}
    service = FastStreamService(
        faststream_python,
        {"bootstrap": bootstrap, "topics": topics, "group": f"compat-otel-{tag}"},
        script=SCRIPT,
    )
    try:
        service.wait_ready()
        yield service
    finally:
        service.stop()


async def test_a_faststream_publish_is_continued_by_a_topicflow_consumer(
    bootstrap: str, topic: str, group: str, telemetry: Telemetry, faststream_otel: FastStreamService
) -> None:
    broker = KafkaBroker(bootstrap, middlewares=[telemetry.middleware()])
    got: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    @broker.subscriber(topic, group_id=group, auto_offset_reset="earliest")
    async def handle(body: dict[str, Any]) -> None:
        await got.put(body)

    async with broker:
        await broker.start()
        faststream_otel.send(cmd="publish", topic=topic, body={"n": 1}, correlation_id="fs-tf-1")
        async with asyncio.timeout(60):
            assert await got.get() == {"n": 1}

    # FastStream's publish outside a handler: a create span, and the publish span under
    # it; the record carries the create span's context.
    create = await faststream_otel.wait_for("span", name=f"{topic} create")
    publish = await faststream_otel.wait_for("span", name=f"{topic} publish")
    assert publish["parent_id"] == create["span_id"]
    process = telemetry.span(f"{topic} process")
    assert process.context.trace_id == create["trace_id"]
    assert parent_id(process) == create["span_id"]
    attributes = dict(process.attributes or {})
    assert attributes["messaging.message.conversation_id"] == "fs-tf-1"
    assert attributes["messaging.destination_publish.name"] == topic


async def test_a_topicflow_publish_is_continued_by_a_faststream_consumer_with_its_baggage(
    bootstrap: str, telemetry: Telemetry, faststream_otel: FastStreamService
) -> None:
    target = faststream_otel.config["topics"]["to_faststream"]
    source = f"{target}-in"
    broker = KafkaBroker(bootstrap, middlewares=[telemetry.middleware()])

    @broker.subscriber(source, group_id=f"{target}-relay", auto_offset_reset="earliest")
    @broker.publisher(target)
    async def relay(body: dict[str, Any], bag: CurrentBaggage) -> dict[str, Any]:
        bag.set("tenant", "acme")
        return body

    async with broker:
        await broker.start()
        await broker.publish({"n": 2}, source, correlation_id="tf-fs-2")
        received = await faststream_otel.wait_for("received", timeout=60, correlation_id="tf-fs-2")

    ours = telemetry.span(f"{target} publish")
    theirs = await faststream_otel.wait_for("span", name=f"{target} process")
    assert (
        theirs["trace_id"]
        == ours.context.trace_id
        == telemetry.span(f"{source} publish").context.trace_id
    )
    assert theirs["parent_id"] == ours.context.span_id
    assert theirs["kind"] == "CONSUMER"
    assert received["span_id"] == theirs["span_id"]
    assert received["baggage"] == {"tenant": "acme"}
