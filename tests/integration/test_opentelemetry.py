"""OpenTelemetry on a real Kafka: one trace across two brokers, and across two processes.

Each service has its own SDK tracer provider (spans in memory, or for the
service under ``topicflow run`` written to a file as JSON lines), as two
services in production would; the trace context travels only in record headers.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.trace import SpanKind
from pydantic import BaseModel

from tests.telemetry import Telemetry, parent_id
from topicflow.kafka import KafkaBroker, KafkaMessage
from topicflow.opentelemetry import CurrentBaggage

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(120)]

EARLY = {"auto_offset_reset": "earliest"}


class Order(BaseModel):
    id: int
    item: str


@pytest.fixture
def front() -> Iterator[Telemetry]:
    recorded = Telemetry()
    yield recorded
    recorded.shutdown()


@pytest.fixture
def back() -> Iterator[Telemetry]:
    recorded = Telemetry()
    yield recorded
    recorded.shutdown()


async def test_one_trace_runs_across_two_brokers_through_a_publisher(
    bootstrap: str, topic: str, group: str, front: Telemetry, back: Telemetry
) -> None:
    orders, bills = f"{topic}-orders", f"{topic}-bills"
    shop = KafkaBroker(bootstrap, middlewares=[front.middleware()])
    billing = KafkaBroker(bootstrap, middlewares=[back.middleware()])
    done: asyncio.Queue[KafkaMessage] = asyncio.Queue()

    @billing.subscriber(orders, group_id=f"{group}-billing", **EARLY)
    @billing.publisher(bills)
    async def bill(order: Order, bag: CurrentBaggage) -> Order:
        bag.set("billed-by", "billing")
        return order

    @shop.subscriber(bills, group_id=f"{group}-shop", **EARLY)
    async def billed(order: Order, msg: KafkaMessage, bag: CurrentBaggage) -> None:
        assert bag.get_all() == {"billed-by": "billing"}
        await done.put(msg)

    async with shop, billing:
        await shop.start()
        await billing.start()
        meta = await shop.publish(Order(id=1, item="book"), orders, key=b"c-9")
        async with asyncio.timeout(60):
            received = await done.get()

    sent = front.span(f"{orders} publish")
    processed = back.span(f"{orders} process")
    relayed = back.span(f"{bills} publish")
    last = front.span(f"{bills} process")
    trace_id = sent.context.trace_id
    assert {s.context.trace_id for s in (processed, relayed, last)} == {trace_id}
    assert sent.parent is None
    assert parent_id(processed) == sent.context.span_id
    assert processed.parent is not None
    assert processed.parent.is_remote
    assert parent_id(relayed) == processed.context.span_id
    assert parent_id(last) == relayed.context.span_id
    assert processed.kind is SpanKind.CONSUMER
    assert relayed.kind is SpanKind.PRODUCER
    attributes = dict(processed.attributes or {})
    assert attributes["messaging.destination_publish.name"] == orders
    assert attributes["messaging.destination.name"] == orders
    assert attributes["messaging.consumer.group.name"] == f"{group}-billing"
    assert attributes["messaging.kafka.message.key"] == "c-9"
    assert attributes["messaging.kafka.destination.partition"] == meta.partition
    assert attributes["messaging.kafka.offset"] == meta.offset
    assert attributes["messaging.kafka.message.offset"] == meta.offset
    assert (last.attributes or {})["messaging.kafka.offset"] == received.offset
    # Each service's metrics count its own side.
    assert [count for _, count in back.points("messaging.process.messages")] == [1]
    assert [count for _, count in back.points("messaging.publish.messages")] == [1]
    assert [count for _, count in front.points("messaging.publish.messages")] == [1]


SERVICE = """
import json
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from topicflow import App
from topicflow.kafka import KafkaBroker
from topicflow.kafka.opentelemetry import KafkaTelemetryMiddleware


class FileExporter(SpanExporter):
    def export(self, spans):
        with open({spans!r}, "a") as out:
            for span in spans:
                out.write(json.dumps({{
                    "name": span.name,
                    "kind": span.kind.name,
                    "trace_id": span.context.trace_id,
                    "span_id": span.context.span_id,
                    "parent_id": span.parent.span_id if span.parent else None,
                    "attributes": dict(span.attributes),
                }}) + "\\n")
        return SpanExportResult.SUCCESS


provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(FileExporter()))
telemetry = KafkaTelemetryMiddleware(tracer_provider=provider)
broker = KafkaBroker({bootstrap!r}, middlewares=[telemetry])
app = App(broker)


@broker.subscriber({source!r}, group_id={group!r}, auto_offset_reset="earliest")
@broker.publisher({target!r})
async def relay(order: dict) -> dict:
    return {{**order, "relayed": True}}
"""


def _run(target: str, where: Path) -> subprocess.Popen[str]:
    """``topicflow run target`` as a process of its own."""
    return subprocess.Popen(
        [sys.executable, "-m", "topicflow", "run", target, "--app-dir", str(where)],
        cwd=where,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _spans_of(path: Path, name: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            for line in path.read_text().splitlines():
                span = json.loads(line)
                if span["name"] == name:
                    return span  # type: ignore[no-any-return]
        time.sleep(0.05)
    raise AssertionError(f"no span {name!r} in {path}")


async def test_one_trace_runs_through_a_service_in_another_process(
    bootstrap: str, topic: str, group: str, front: Telemetry, tmp_path: Path
) -> None:
    source, target = f"{topic}-in", f"{topic}-out"
    spans = tmp_path / "spans.jsonl"
    (tmp_path / "relay.py").write_text(
        textwrap.dedent(SERVICE).format(
            bootstrap=bootstrap, source=source, target=target, group=group, spans=str(spans)
        )
    )
    service = _run("relay:app", tmp_path)
    broker = KafkaBroker(bootstrap, middlewares=[front.middleware()])
    done: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    @broker.subscriber(target, group_id=f"{group}-end", **EARLY)
    async def end(order: dict[str, Any]) -> None:
        await done.put(order)

    try:
        async with broker:
            await broker.start()
            await broker.publish({"id": 5, "item": "pen"}, source)
            async with asyncio.timeout(90):
                assert await done.get() == {"id": 5, "item": "pen", "relayed": True}
        processed = await asyncio.to_thread(_spans_of, spans, f"{source} process")
        relayed = await asyncio.to_thread(_spans_of, spans, f"{target} publish")
    finally:
        service.send_signal(signal.SIGTERM)
        output, _ = service.communicate(timeout=60)
    assert service.returncode == 0, output

    sent = front.span(f"{source} publish")
    last = front.span(f"{target} process")
    trace_id = sent.context.trace_id
    assert processed["trace_id"] == relayed["trace_id"] == last.context.trace_id == trace_id
    assert processed["parent_id"] == sent.context.span_id
    assert relayed["parent_id"] == processed["span_id"]
    assert parent_id(last) == relayed["span_id"]
    assert processed["kind"] == "CONSUMER"
    assert processed["attributes"]["messaging.consumer.group.name"] == group
    assert processed["attributes"]["messaging.destination_publish.name"] == source
