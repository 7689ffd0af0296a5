"""Prometheus metrics scraped over HTTP, consumer lag, and readiness, on a real Kafka."""

from __future__ import annotations

import asyncio
import contextlib
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.parser import text_string_to_metric_families
from reliability.clusters import LocalCluster

from tests.helpers import eventually
from topicflow import RejectMessage
from topicflow.kafka import KafkaBroker
from topicflow.kafka.prometheus import KafkaPrometheusMiddleware

pytestmark = pytest.mark.kafka


@pytest.fixture
def scrape() -> Iterator[tuple[CollectorRegistry, Any]]:
    """A registry served by prometheus_client's HTTP server on a free loopback port, and
    ``await scrape()``: its metrics fetched over HTTP and parsed, by (name, labels)."""
    registry = CollectorRegistry()
    server, thread = start_http_server(0, addr="127.0.0.1", registry=registry)
    url = f"http://127.0.0.1:{server.server_port}/metrics"

    def fetch() -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
        with urllib.request.urlopen(url, timeout=5) as answer:
            text = answer.read().decode()
        return {
            (sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        }

    async def get() -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
        return await asyncio.to_thread(fetch)

    try:
        yield registry, get
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def at(samples: dict[Any, float], name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


async def test_a_real_scrape_counts_good_failing_and_poison_messages(
    bootstrap: str, topic: str, group: str, scrape: tuple[CollectorRegistry, Any]
) -> None:
    registry, get = scrape
    out = f"{topic}-out"
    broker = KafkaBroker(bootstrap, middlewares=[KafkaPrometheusMiddleware(registry=registry)])

    @broker.subscriber(topic, group_id=group, auto_offset_reset="earliest")
    @broker.publisher(out)
    async def handle(n: int) -> int:
        if n % 10 == 7:
            raise ValueError("seven")
        if n % 10 == 8:
            raise RejectMessage()
        return n

    good = [0, 1, 2, 3, 4, 5]
    async with broker:
        await broker.start()
        for n in [*good, 7, 17, 8]:
            await broker.publish(n, topic)
        for body in (b"{not json", b"not a number"):
            await broker.publish(body, topic)
        common = {"app_name": "topicflow", "broker": "kafka", "handler": topic}
        processed = "topicflow_received_processed_messages_total"

        async def handled() -> bool:
            samples = await get()
            done = [at(samples, processed, **common, status=s) or 0 for s in ("acked", "error")]
            return sum(done) + (at(samples, processed, **common, status="rejected") or 0) == 11

        await eventually(handled, timeout=30)
        samples = await get()
        kafka = {"app_name": "topicflow", "group": group}
        where = {**kafka, "topic": topic, "partition": "0"}
        # Committed within the commit interval; then nothing is behind.
        committed = "topicflow_kafka_committed_offset"

        async def committed_all() -> bool:
            return at(await get(), committed, **where) == 11

        await eventually(committed_all, timeout=15)
        samples = await get()
    assert at(samples, "topicflow_received_messages_total", **common) == 11
    assert at(samples, processed, **common, status="acked") == 6
    assert at(samples, processed, **common, status="error") == 4  # 2 raised, 2 poison
    assert at(samples, processed, **common, status="rejected") == 1
    exceptions = "topicflow_received_processed_messages_exceptions_total"
    assert at(samples, exceptions, **common, exception_type="ValueError") == 2
    assert at(samples, exceptions, **common, exception_type="DecodeError") == 2
    assert at(samples, "topicflow_received_messages_in_process", **common) == 0
    assert at(samples, "topicflow_received_messages_size_bytes_count", **common) == 11
    published = {"app_name": "topicflow", "broker": "kafka"}
    name = "topicflow_published_messages_total"
    assert at(samples, name, **published, destination=topic, status="success") == 11
    assert at(samples, name, **published, destination=out, status="success") == 6
    assert at(samples, "topicflow_kafka_poison_messages_total", **kafka, topic=topic) == 2
    assert (at(samples, "topicflow_kafka_rebalances_total", **kafka) or 0) >= 1
    assert at(samples, "topicflow_kafka_assigned_partitions", **kafka) == 1
    assert at(samples, "topicflow_kafka_consumer_lag", **where) == 0
    assert at(samples, "topicflow_kafka_fetch_restarts_total", **kafka) == 0


async def test_the_lag_gauge_rises_with_a_backlog_and_returns_to_zero(
    bootstrap: str, topic: str, group: str, scrape: tuple[CollectorRegistry, Any]
) -> None:
    registry, get = scrape
    broker = KafkaBroker(bootstrap, middlewares=[KafkaPrometheusMiddleware(registry=registry)])
    release = asyncio.Event()

    @broker.subscriber(topic, group_id=group, auto_offset_reset="earliest")
    async def handle(n: int) -> None:
        await release.wait()  # the backlog builds up behind the first message

    lag = "topicflow_kafka_consumer_lag"
    where = {"app_name": "topicflow", "group": group, "topic": topic, "partition": "0"}
    async with broker:
        # The backlog is there before the consumer: its first fetch learns the end.
        for n in range(300):
            await broker.publish(n, topic, no_confirm=True)
        await broker.publish(300, topic)  # all confirmed: 301 records
        assert at(await get(), lag, **where) is None  # no consumer yet
        await broker.start()

        async def behind() -> bool:
            return (at(await get(), lag, **where) or 0) >= 300

        await eventually(behind, timeout=30)
        release.set()

        async def drained() -> bool:
            return at(await get(), lag, **where) == 0

        await eventually(drained, timeout=30)
        committed = at(await get(), "topicflow_kafka_committed_offset", **where)
        assert committed == 301


async def test_a_group_member_with_no_partition_is_idle_and_ready(
    bootstrap: str, topic: str, group: str, create_topic: Any
) -> None:
    await create_topic(topic, 1)
    brokers = [KafkaBroker(bootstrap), KafkaBroker(bootstrap)]
    for broker in brokers:

        @broker.subscriber(topic, group_id=group)
        async def handle(n: int) -> None:
            return None

    async with contextlib.AsyncExitStack() as stack:
        for broker in brokers:
            await stack.enter_async_context(broker)
            await broker.start()

        async def both_ready() -> bool:
            answers = [await broker.ready(timeout=5) for broker in brokers]
            return all(answers)

        await eventually(both_ready, timeout=30)  # one of them owns no partition


@pytest.mark.timeout(240)
async def test_ready_false_before_connect_true_running_false_unreachable(
    own_cluster: LocalCluster, topic: str, group: str
) -> None:
    broker = KafkaBroker(own_cluster.bootstrap, request_timeout_ms=5000, graceful_timeout=3)

    @broker.subscriber(topic, group_id=group)
    async def handle(n: int) -> None:
        return None

    before = await broker.ready()
    assert not before
    assert any("not connected" in problem for problem in before.problems)
    await broker.start()
    try:

        async def ready() -> bool:
            return bool(await broker.ready(timeout=5))

        await eventually(ready, timeout=30)
        assert (await broker.ready()).as_dict() == {"ready": True, "problems": []}
        await asyncio.to_thread(own_cluster.stop)
        down = await broker.ready(timeout=2)
        assert not down
        assert any("did not answer" in problem for problem in down.problems), down.problems
        await asyncio.to_thread(own_cluster.heal)
        await eventually(ready, timeout=60)
    finally:
        await broker.stop()
