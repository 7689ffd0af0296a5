"""retry= and dead_letter= without Kafka: what registration refuses, the topic names,
what the test broker shows, AsyncAPI, and the Prometheus and OpenTelemetry counters."""

from __future__ import annotations

from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from tests.telemetry import Telemetry
from topicflow import AckPolicy, App, SetupError
from topicflow.asyncapi import build_document
from topicflow.kafka import KafkaBroker, KafkaMessage, KafkaRouter, Retry, TestKafkaBroker
from topicflow.kafka.prometheus import KafkaPrometheusMiddleware

pytestmark = pytest.mark.timeout(30)


@pytest.mark.parametrize(
    ("options", "fix"),
    [
        ({"batch": True, "group_id": "g"}, "drop batch=True"),
        ({}, "add group_id="),
        ({"group_id": "g", "ack_policy": AckPolicy.ACK_FIRST}, "AckPolicy.ACK"),
        ({"group_id": "g", "dead_letter": "orders"}, "another topic"),
        ({"group_id": "g", "dead_letter": "no spaces"}, "not a Kafka topic name"),
    ],
)
def test_registration_refuses_what_cannot_work(options: dict[str, Any], fix: str) -> None:
    broker = KafkaBroker()
    with pytest.raises(SetupError, match=fix):
        broker.subscriber("orders", retry=Retry(delays=(1.0,)), **options)


def test_a_pattern_cannot_name_retry_topics() -> None:
    with pytest.raises(SetupError, match="needs named topics"):
        KafkaBroker().subscriber(pattern="orders.*", group_id="g", retry=Retry(delays=(1.0,)))


@pytest.mark.parametrize("delays", [(), (-1.0,), (float("inf"),)])
def test_retry_needs_delays_in_seconds(delays: tuple[float, ...]) -> None:
    with pytest.raises(SetupError, match="delay"):
        Retry(delays=delays)


def test_blocking_retries_and_dead_letters_need_no_group() -> None:
    broker = KafkaBroker()
    broker.subscriber("a", retry=Retry(delays=(0.1,), blocking=True), dead_letter="a.dlq")
    broker.subscriber("b", dead_letter="b.dlq", max_workers=2)


async def test_two_groups_of_one_topic_have_their_own_retry_topics() -> None:
    broker = KafkaBroker(logger=None)
    router = KafkaRouter(prefix="eu.")
    seen: list[tuple[str, str]] = []

    def failing(group: str) -> Any:
        async def handle(msg: KafkaMessage) -> None:
            seen.append((group, msg.topic))
            raise ValueError("fails")

        return handle

    router.subscriber("orders", group_id="billing", retry=Retry(delays=(0.05,)))(failing("billing"))
    router.subscriber("orders", group_id="audit", retry=Retry(delays=(0.05,)), dead_letter="dlq")(
        failing("audit")
    )
    dead: list[KafkaMessage] = []

    @broker.subscriber("eu.dlq", group_id="ops")  # a router's prefix names its dead letters too
    async def ops(msg: KafkaMessage) -> None:
        dead.append(msg)

    broker.include_router(router)
    async with TestKafkaBroker(broker) as br:
        await br.publish("x", "eu.orders")  # returns once every retry is done
    assert sorted(seen) == [
        ("audit", "eu.orders"),
        ("audit", "eu.orders.audit.retry-1"),
        ("billing", "eu.orders"),
        ("billing", "eu.orders.billing.retry-1"),
    ]
    assert [m.headers["topicflow-attempts"] for m in dead] == ["2"]


async def test_the_test_broker_waits_for_retries_and_raises_nothing() -> None:
    broker = KafkaBroker(logger=None)

    @broker.subscriber("orders", group_id="g", retry=Retry(delays=(0.05, 0.05)), dead_letter="d")
    async def bill(n: int) -> None:
        raise ValueError(n)

    async with TestKafkaBroker(broker) as br:
        await br.publish(1, "orders")
        assert bill.mock.call_count == 3  # type: ignore[attr-defined]


def test_asyncapi_shows_the_retry_and_dead_letter_channels() -> None:
    broker = KafkaBroker()

    @broker.subscriber("orders", group_id="billing", retry=Retry(delays=(1, 10)), dead_letter="dlq")
    async def bill(n: int) -> None: ...

    document = build_document(App(broker))
    assert set(document["channels"]) == {
        "orders",
        "orders.billing.retry-1",
        "orders.billing.retry-2",
        "dlq",
    }
    actions = {
        op["channel"]["$ref"].split("/")[-1]: op["action"] for op in document["operations"].values()
    }
    assert actions == {
        "orders": "receive",
        "orders.billing.retry-1": "receive",
        "orders.billing.retry-2": "receive",
        "dlq": "send",
    }


async def test_prometheus_counts_retried_and_dead_lettered_messages() -> None:
    registry = CollectorRegistry()
    broker = KafkaBroker(middlewares=[KafkaPrometheusMiddleware(registry=registry)], logger=None)

    @broker.subscriber("orders", group_id="g", retry=Retry(delays=(0.05, 0.05)), dead_letter="d")
    async def bill(n: int) -> None:
        raise ValueError(n)

    async with TestKafkaBroker(broker) as br:
        await br.publish(1, "orders")
        await br.publish(b"poison", "orders")
        where = {"app_name": "topicflow", "group": "g", "topic": "orders"}
        retried = registry.get_sample_value("topicflow_kafka_retried_messages_total", where)
        dead = registry.get_sample_value("topicflow_kafka_dead_lettered_messages_total", where)
    assert (retried, dead) == (2, 2)


async def test_opentelemetry_counts_retried_dead_lettered_and_poison_messages() -> None:
    telemetry = Telemetry()
    broker = KafkaBroker(middlewares=[telemetry.middleware()], logger=None)

    @broker.subscriber("orders", group_id="g", retry=Retry(delays=(0.05, 0.05)), dead_letter="d")
    async def bill(n: int) -> None:
        raise ValueError(n)

    try:
        async with TestKafkaBroker(broker) as br:
            await br.publish(1, "orders")
            await br.publish(b"poison", "orders")
            where = {"messaging.system": "kafka", "messaging.destination.name": "orders"}
            where["messaging.consumer.group.name"] = "g"
            counts = [
                telemetry.points(f"topicflow.kafka.{name}_messages")
                for name in ("retried", "dead_lettered", "poison")
            ]
    finally:
        telemetry.shutdown()
    # 1 failed twice on retry topics, then dead-lettered; the poison dead-lettered at once.
    assert counts == [[(where, 2)], [(where, 2)], [(where, 1)]]


async def test_the_retry_consumer_has_a_static_member_id_of_its_own() -> None:
    broker = KafkaBroker(logger=None)
    sub = broker.subscriber(
        "orders", group_id="g", group_instance_id="pod-1", retry=Retry(delays=(0.05,))
    )

    @sub
    async def bill(n: int) -> None: ...

    async with TestKafkaBroker(broker):
        assert sub.retrier is not None
        assert sub.retrier.options(sub.config.consumer)["group_instance_id"] == "pod-1-retries"
        assert sub.config.consumer["group_instance_id"] == "pod-1"
