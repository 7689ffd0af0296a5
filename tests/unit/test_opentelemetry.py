"""KafkaTelemetryMiddleware under TestKafkaBroker: spans, trace context, baggage, metrics.

The OpenTelemetry SDK is real (spans in an in-memory exporter, metrics read by an
in-memory reader); Kafka is the test broker's. The same behaviour on a real Kafka,
across processes and with FastStream: ``tests/integration/test_opentelemetry.py``
and ``tests/compat/test_faststream_otel.py``.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator

import pytest
from opentelemetry import baggage, context
from opentelemetry.trace import SpanKind, StatusCode
from pydantic import BaseModel, ValidationError

from tests.telemetry import Telemetry, parent_id
from topicflow import AckMessage
from topicflow.kafka import KafkaBroker, KafkaMessage, TestKafkaBroker
from topicflow.opentelemetry import Baggage, CurrentBaggage, CurrentSpan

ADDRESS = "in-memory:9092"
pytestmark = pytest.mark.timeout(30)


class Order(BaseModel):
    id: int


@pytest.fixture
def telemetry() -> Iterator[Telemetry]:
    recorded = Telemetry()
    yield recorded
    recorded.shutdown()


async def test_a_trace_runs_from_a_publish_through_a_publisher_to_the_next_consumer(
    telemetry: Telemetry,
) -> None:
    broker = KafkaBroker(ADDRESS, middlewares=[telemetry.middleware()])
    seen: list[KafkaMessage] = []

    @broker.subscriber("orders", group_id="billing")
    @broker.publisher("bills")
    async def bill(order: Order) -> Order:
        return order

    @broker.subscriber("bills", group_id="mail")
    async def mail(order: Order, msg: KafkaMessage) -> None:
        seen.append(msg)

    async with TestKafkaBroker(broker) as br:
        await br.publish(Order(id=7), "orders", key=b"customer-1", correlation_id="c-1")

    assert telemetry.names() == [
        "bills publish",
        "orders process",
        "bills process",
        "orders publish",
    ]  # in the order they ended
    first = telemetry.span("orders publish")
    process = telemetry.span("orders process")
    second = telemetry.span("bills publish")
    last = telemetry.span("bills process")
    assert {s.context.trace_id for s in telemetry.spans()} == {first.context.trace_id}
    assert first.parent is None
    assert parent_id(process) == first.context.span_id
    assert parent_id(second) == process.context.span_id
    assert parent_id(last) == second.context.span_id
    assert (first.kind, process.kind, second.kind, last.kind) == (
        SpanKind.PRODUCER,
        SpanKind.CONSUMER,
        SpanKind.PRODUCER,
        SpanKind.CONSUMER,
    )
    # FastStream's keys, and the semantic conventions' beside them.
    assert dict(process.attributes or {}) == {
        "messaging.system": "kafka",
        "messaging.destination_publish.name": "orders",
        "messaging.destination.name": "orders",
        "messaging.message.id": "orders-0-0",
        "messaging.message.conversation_id": "c-1",
        "messaging.message.payload_size_bytes": len(b'{"id":7}'),
        "messaging.message.body.size": len(b'{"id":7}'),
        "messaging.kafka.destination.partition": 0,
        "messaging.destination.partition.id": "0",
        "messaging.kafka.message.offset": 0,
        "messaging.kafka.offset": 0,
        "messaging.kafka.message.key": "customer-1",
        "messaging.consumer.group.name": "billing",
        "messaging.operation": "process",
        "messaging.operation.type": "process",
        "messaging.operation.name": "process",
    }
    assert dict(first.attributes or {}) == {
        "messaging.system": "kafka",
        "messaging.destination.name": "orders",
        "messaging.message.conversation_id": "c-1",
        "messaging.kafka.message.key": "customer-1",
        "messaging.operation": "publish",
        "messaging.operation.type": "send",
        "messaging.operation.name": "publish",
    }
    assert last.attributes is not None
    assert last.attributes["messaging.consumer.group.name"] == "mail"
    # The W3C header the next service reads: the publish span's context.
    ctx = second.context
    assert (
        seen[0].headers["traceparent"]
        == f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{ctx.trace_flags:02x}"
    )


async def test_the_handler_gets_its_span_and_instrumented_code_sees_it_current(
    telemetry: Telemetry,
) -> None:
    from opentelemetry import trace

    broker = KafkaBroker(ADDRESS, middlewares=[telemetry.middleware()])
    tracer = telemetry.tracer_provider.get_tracer("user-code")

    @broker.subscriber("orders")
    async def handle(order: Order, span: CurrentSpan) -> None:
        span.set_attribute("order.id", order.id)
        assert trace.get_current_span() is span
        with tracer.start_as_current_span("charge card"):
            pass

    async with TestKafkaBroker(broker) as br:
        await br.publish(Order(id=3), "orders")

    process = telemetry.span("orders process")
    assert process.attributes is not None
    assert process.attributes["order.id"] == 3
    assert parent_id(telemetry.span("charge card")) == process.context.span_id


async def test_a_failure_is_on_the_span_and_in_the_metrics_by_error_type(
    telemetry: Telemetry,
) -> None:
    broker = KafkaBroker(ADDRESS, middlewares=[telemetry.middleware()])

    @broker.subscriber("orders", group_id="g")
    async def handle(order: Order) -> None:
        if order.id == 2:
            raise ValueError("no stock")
        if order.id == 3:
            raise AckMessage()

    async with TestKafkaBroker(broker) as br:
        await br.publish(Order(id=1), "orders")
        with pytest.raises(ValueError, match="no stock"):
            await br.publish(Order(id=2), "orders")
        await br.publish(Order(id=3), "orders")
        with pytest.raises(ValidationError):  # the test broker raises it, as FastStream's
            await br.publish(b"not an order", "orders")  # poison

    spans = [s for s in telemetry.spans() if s.name == "orders process"]
    assert [(s.attributes or {}).get("error.type") for s in spans] == [
        None,
        "ValueError",
        None,  # AckMessage finishes the message: not a failure
        "DecodeError",
    ]
    failed = spans[1]
    assert failed.status.status_code is StatusCode.ERROR
    assert [event.name for event in failed.events] == ["exception"]
    assert spans[2].status.status_code is StatusCode.UNSET
    base = {  # FastStream's metric attributes, and the group
        "messaging.system": "kafka",
        "messaging.destination_publish.name": "orders",
        "messaging.consumer.group.name": "g",
    }
    durations = telemetry.points("messaging.process.duration")
    assert sorted(durations, key=lambda p: str(p[0])) == sorted(
        [
            (base, 2),
            ({**base, "error.type": "ValueError"}, 1),
            ({**base, "error.type": "DecodeError"}, 1),
        ],
        key=lambda p: str(p[0]),
    )
    assert telemetry.points("messaging.process.messages") == [(base, 4)]
    published = {"messaging.system": "kafka", "messaging.destination.name": "orders"}
    assert telemetry.points("messaging.publish.messages") == [(published, 4)]
    # (The test broker raises a handler's error out of publish(): there the publish
    # failed too, and its duration is recorded with the error's type.)
    assert sum(count for _, count in telemetry.points("messaging.publish.duration")) == 4


async def test_baggage_is_read_changed_and_carried_on_to_what_the_handler_publishes(
    telemetry: Telemetry,
) -> None:
    broker = KafkaBroker(ADDRESS, middlewares=[telemetry.middleware()])
    seen: list[tuple[dict[str, str], dict[str, str | bytes]]] = []

    @broker.subscriber("in")
    @broker.publisher("out")
    async def relay(body: str, bag: CurrentBaggage) -> str:
        assert bag.get("tenant") == "acme"
        bag.set("hop", "relay")
        bag.remove("secret")
        return body

    @broker.subscriber("out")
    async def read(body: str, bag: CurrentBaggage, msg: KafkaMessage) -> None:
        seen.append((bag.get_all(), msg.headers))

    async with TestKafkaBroker(broker) as br:
        # Baggage set with OpenTelemetry's own API goes out with the publish.
        token = context.attach(
            baggage.set_baggage("secret", "x", baggage.set_baggage("tenant", "acme"))
        )
        try:
            await br.publish("hello", "in")
        finally:
            context.detach(token)

    ((entries, headers),) = seen
    assert entries == {"tenant": "acme", "hop": "relay"}
    assert Baggage.from_headers(headers).get_all() == entries


async def test_baggage_goes_on_unchanged_through_a_handler_that_ignores_it(
    telemetry: Telemetry,
) -> None:
    broker = KafkaBroker(ADDRESS, middlewares=[telemetry.middleware()])
    seen: list[str | bytes] = []

    @broker.subscriber("in")
    @broker.publisher("out")
    async def relay(body: str) -> str:
        return body

    @broker.subscriber("out")
    async def read(msg: KafkaMessage) -> None:
        seen.append(msg.headers["baggage"])

    async with TestKafkaBroker(broker) as br:
        await br.publish("hello", "in", headers={"baggage": "tenant=acme,plan=gold"})
    assert seen == ["tenant=acme,plan=gold"]


async def test_a_batch_publish_has_a_create_span_and_a_batch_consumer_links_to_it(
    telemetry: Telemetry,
) -> None:
    broker = KafkaBroker(ADDRESS, middlewares=[telemetry.middleware()])
    got: list[list[int]] = []

    @broker.subscriber("orders", batch=True, group_id="g")
    async def handle(orders: list[Order], bag: CurrentBaggage) -> None:
        got.append([o.id for o in orders])

    async with TestKafkaBroker(broker) as br:
        await br.publish_batch(Order(id=1), Order(id=2), Order(id=3), topic="orders")

    assert got == [[1, 2, 3]]
    create = telemetry.span("orders create")
    publish = telemetry.span("orders publish")
    process = telemetry.span("orders process")
    assert create.kind is SpanKind.PRODUCER
    assert parent_id(publish) == create.context.span_id
    assert publish.attributes is not None
    assert publish.attributes["messaging.batch.message_count"] == 3
    # A batch's span starts a trace of its own, linked to the records' (one link for
    # the three, which share one correlation id, counting them).
    assert process.parent is None
    assert [(link.context.span_id, dict(link.attributes or {})) for link in process.links] == [
        (create.context.span_id, {"messaging.batch.message_count": 3})
    ]
    assert process.attributes is not None
    assert process.attributes["messaging.batch.message_count"] == 3
    assert process.attributes["messaging.consumer.group.name"] == "g"
    assert telemetry.points("messaging.process.messages")[0][1] == 3


async def test_a_record_of_a_batch_publish_relayed_alone_goes_on_without_the_batch_marker(
    telemetry: Telemetry,
) -> None:
    broker = KafkaBroker(ADDRESS, middlewares=[telemetry.middleware()])
    seen: list[dict[str, str | bytes]] = []

    @broker.subscriber("in")
    @broker.publisher("out")
    async def relay(body: str) -> str:
        return body

    @broker.subscriber("out")
    async def read(msg: KafkaMessage, bag: CurrentBaggage) -> None:
        assert bag.get_all() == {"tenant": "acme"}
        seen.append(msg.headers)

    async with TestKafkaBroker(broker) as br:
        # FastStream marks each record of a batch publish with_batch; its consumers
        # would take a relayed record for a batch and not parent it on our span.
        await br.publish_batch("a", "b", topic="in", headers={"baggage": "tenant=acme"})
    assert len(seen) == 2
    assert all(Baggage.from_headers(h).get_all() == {"tenant": "acme"} for h in seen)
    assert all("with_batch" not in str(h["baggage"]) for h in seen)


def test_topicflow_imports_without_opentelemetry_and_says_how_to_get_it() -> None:
    probe = textwrap.dedent(
        """
        import sys
        sys.modules["opentelemetry"] = None  # as if not installed
        import topicflow, topicflow.kafka
        try:
            import topicflow.kafka.opentelemetry
        except ModuleNotFoundError as exc:
            print(exc)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "pip install 'topicflow[otel]'" in done.stdout


async def test_request_and_its_reply_are_traced_as_one_trace(telemetry: Telemetry) -> None:
    broker = KafkaBroker(ADDRESS, middlewares=[telemetry.middleware()])

    @broker.subscriber("prices")
    async def price(order: Order) -> int:
        return order.id * 10

    async with TestKafkaBroker(broker) as br:
        reply = await br.request(Order(id=4), "prices", timeout=5)
    assert await reply.decode() == 40

    asked = telemetry.span("prices publish")
    served = telemetry.span("prices process")
    [replied] = [s for s in telemetry.spans() if s.name.endswith(" publish") and s is not asked]
    assert parent_id(served) == asked.context.span_id
    assert parent_id(replied) == served.context.span_id
    assert replied.context.trace_id == asked.context.trace_id
    conversation = "messaging.message.conversation_id"
    assert (replied.attributes or {})[conversation] == (asked.attributes or {})[conversation]
