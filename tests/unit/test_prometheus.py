"""KafkaPrometheusMiddleware and broker.ready() under TestKafkaBroker (the in-memory Kafka)."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys

import pytest
from prometheus_client import CollectorRegistry

from tests.helpers import eventually
from topicflow import RejectMessage
from topicflow.kafka import KafkaBroker, TestKafkaBroker
from topicflow.kafka.prometheus import KafkaPrometheusMiddleware


def value(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


async def test_counts_good_failing_rejected_and_poison_messages() -> None:
    registry = CollectorRegistry()
    broker = KafkaBroker(middlewares=[KafkaPrometheusMiddleware(registry=registry)])

    @broker.subscriber("in", group_id="g")
    @broker.publisher("out")
    async def handle(x: int) -> int:
        if x == 3:
            raise ValueError("failing")
        if x == 4:
            raise RejectMessage()
        return x

    async with TestKafkaBroker(broker) as br:
        for body in (1, 2, 3, 4, b"not a number"):
            with contextlib.suppress(Exception):
                await br.publish(body, "in")
        common = {"app_name": "topicflow", "broker": "kafka", "handler": "in"}
        assert value(registry, "topicflow_received_messages_total", **common) == 5
        for status, count in (("acked", 2), ("error", 2), ("rejected", 1)):
            name = "topicflow_received_processed_messages_total"
            assert value(registry, name, **common, status=status) == count, status
        exceptions = "topicflow_received_processed_messages_exceptions_total"
        assert value(registry, exceptions, **common, exception_type="ValueError") == 1
        assert value(registry, exceptions, **common, exception_type="DecodeError") == 1
        assert value(registry, exceptions, **common, exception_type="RejectMessage") is None
        assert value(registry, "topicflow_received_messages_in_process", **common) == 0
        assert value(registry, "topicflow_received_messages_size_bytes_count", **common) == 5
        assert value(registry, "topicflow_received_messages_size_bytes_sum", **common) == 16
        published = {"app_name": "topicflow", "broker": "kafka", "destination": "out"}
        name = "topicflow_published_messages_total"
        assert value(registry, name, **published, status="success") == 2
        kafka = {"app_name": "topicflow", "group": "g"}
        poison = "topicflow_kafka_poison_messages_total"
        assert value(registry, poison, **kafka, topic="in") == 1
        assert value(registry, "topicflow_kafka_rebalances_total", **kafka) == 1
        assert value(registry, "topicflow_kafka_assigned_partitions", **kafka) == 1
        where = {**kafka, "topic": "in", "partition": "0"}
        committed = "topicflow_kafka_committed_offset"
        await eventually(lambda: value(registry, committed, **where) == 5, timeout=10)
        assert value(registry, "topicflow_kafka_consumer_lag", **where) == 0
    # Stopped: its partitions are no longer its own, their series go.
    assert value(registry, "topicflow_kafka_consumer_lag", **where) is None
    assert value(registry, "topicflow_kafka_assigned_partitions", **kafka) == 0


async def test_lag_under_the_test_broker_grows_with_a_backlog_and_drains() -> None:
    registry = CollectorRegistry()
    broker = KafkaBroker(middlewares=[KafkaPrometheusMiddleware(registry=registry)])
    release = asyncio.Event()

    @broker.subscriber("slow", group_id="gs", auto_offset_reset="earliest")
    async def handle(x: int) -> None:
        await release.wait()

    where = {"app_name": "topicflow", "group": "gs", "topic": "slow", "partition": "0"}
    lag = "topicflow_kafka_consumer_lag"
    async with TestKafkaBroker(broker) as br:
        for i in range(20):
            await br.publish(i, "slow", no_confirm=True)  # no wait for the handler
        await eventually(lambda: (value(registry, lag, **where) or 0) >= 19, timeout=10)
        release.set()
        await eventually(lambda: value(registry, lag, **where) == 0, timeout=10)


async def test_batches_count_their_messages_and_replies_are_not_published_metrics() -> None:
    registry = CollectorRegistry()
    broker = KafkaBroker(
        middlewares=[
            KafkaPrometheusMiddleware(
                registry=registry,
                app_name="svc",
                metrics_prefix="shop",
                custom_labels={"region": "eu", "kind": lambda raw: "in" if raw else "out"},
            )
        ]
    )

    @broker.subscriber("batch", group_id="gb", batch=True)
    async def handle_batch(items: list[int]) -> None:
        return None

    @broker.subscriber("rpc", group_id="gr")
    async def answer(x: int) -> int:
        return x + 1

    async with TestKafkaBroker(broker) as br:
        await br.publish_batch(1, 2, 3, topic="batch")
        reply = await br.request(41, "rpc")
        assert await reply.decode() == 42
    labels = {"app_name": "svc", "broker": "kafka", "region": "eu", "kind": "in"}
    assert value(registry, "shop_received_messages_total", **labels, handler="batch") == 3
    processed = "shop_received_processed_messages_total"
    assert value(registry, processed, **labels, handler="batch", status="acked") == 3
    out = {"app_name": "svc", "broker": "kafka", "region": "eu", "kind": "out"}
    published = "shop_published_messages_total"
    assert value(registry, published, **out, destination="batch", status="success") == 3
    assert value(registry, published, **out, destination="rpc", status="success") == 1
    # The reply went to the requester's reply topic: not a publish, as in FastStream.
    samples = [
        s for m in registry.collect() if m.name == "shop_published_messages" for s in m.samples
    ]
    assert {s.labels["destination"] for s in samples} == {"batch", "rpc"}


def test_middlewares_of_one_registry_share_its_metrics_or_say_why_not() -> None:
    registry = CollectorRegistry()
    KafkaPrometheusMiddleware(registry=registry)
    KafkaPrometheusMiddleware(registry=registry, app_name="other")  # same families
    with pytest.raises(ValueError, match="custom labels"):
        KafkaPrometheusMiddleware(registry=registry, custom_labels={"x": "y"})
    KafkaPrometheusMiddleware(registry=registry, metrics_prefix="other", custom_labels={"x": "y"})


def test_without_prometheus_client_the_import_error_names_the_extra() -> None:
    code = (
        "import sys; sys.modules['prometheus_client'] = None\n"
        "import topicflow, topicflow.kafka\n"
        "try:\n"
        "    import topicflow.kafka.prometheus\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "pip install 'topicflow[prometheus]'" in done.stdout


def test_topicflow_does_not_import_prometheus_client() -> None:
    code = "import sys, topicflow, topicflow.kafka; print('prometheus_client' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "False", done.stderr


async def test_ready_before_connect_and_when_running() -> None:
    broker = KafkaBroker()

    @broker.subscriber("t", group_id="g")
    async def handle(x: int) -> None:
        return None

    before = await broker.ready()
    assert not before
    assert "not connected" in before.problems[0]
    async with TestKafkaBroker(broker) as br:
        readiness = await br.ready()
        assert readiness, readiness.problems
        assert readiness.as_dict() == {"ready": True, "problems": []}
