"""FastStream 0.7: each scenario written as a FastStream service would be.

Only the benchmark venv has FastStream; topicflow never depends on it. The
subscribers use ``AckPolicy.ACK`` where topicflow's default (ACK) applies, since
FastStream's own Kafka default is ACK_FIRST (the client's timer auto commit).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from faststream import AckPolicy
from faststream.exceptions import FeatureNotSupportedException
from faststream.kafka import KafkaBroker

from benchmarks.common import (
    Counter,
    Order,
    Shipped,
    StartClock,
    make_order,
    order_dict,
    otel_providers,
    ship,
)

EARLY = {"auto_offset_reset": "earliest"}


def _broker(p: dict[str, Any], middlewares: tuple[Any, ...] = ()) -> KafkaBroker:
    # The producer settings topicflow and the raw client use; no per-message logging.
    return KafkaBroker(
        p["bootstrap"],
        acks="all",
        enable_idempotence=p.get("idempotence", True),
        linger_ms=0,
        logger=None,
        middlewares=middlewares,
    )


async def _consume(
    p: dict[str, Any], policy: AckPolicy | None, middlewares: tuple[Any, ...] = ()
) -> dict[str, Any]:
    counter = Counter(p["count"], tuple(p.get("rss_at", ())))
    broker = _broker(p, middlewares)
    # None: FastStream's own default policy (ACK_FIRST for Kafka).
    policy_option = {} if policy is None else {"ack_policy": policy}

    @broker.subscriber(
        p["topic"], listener=StartClock(counter), group_id=p["group"], **policy_option, **EARLY
    )
    async def handle(order: Order) -> None:
        counter.tick()

    async with broker:
        await broker.start()
        await counter.wait(p["cap"])
    return counter.result()


async def consume_ack(p: dict[str, Any]) -> dict[str, Any]:
    """A single-message handler with a typed body, committing after each message (ACK)."""
    return await _consume(p, AckPolicy.ACK)


async def consume_ack_first(p: dict[str, Any]) -> dict[str, Any]:
    """The same under ACK_FIRST (FastStream's default for Kafka)."""
    return await _consume(p, AckPolicy.ACK_FIRST)


async def _consume_otel(p: dict[str, Any], policy: AckPolicy) -> dict[str, Any]:
    from faststream.kafka.opentelemetry import KafkaTelemetryMiddleware

    tracer_provider, meter_provider = otel_providers()
    telemetry = KafkaTelemetryMiddleware(
        tracer_provider=tracer_provider, meter_provider=meter_provider
    )
    try:
        return await _consume(p, policy, (telemetry,))
    finally:
        tracer_provider.shutdown()
        meter_provider.shutdown()


async def consume_ack_otel(p: dict[str, Any]) -> dict[str, Any]:
    """Scenario 1 with FastStream's OpenTelemetry middleware, on AckPolicy.ACK (1o)."""
    return await _consume_otel(p, AckPolicy.ACK)


async def consume_otel_fs_default(p: dict[str, Any]) -> dict[str, Any]:
    """The same on FastStream's own Kafka default, ACK_FIRST (1of)."""
    return await _consume_otel(p, AckPolicy.ACK_FIRST)


def _prometheus() -> tuple[Any, ...]:
    from faststream.kafka.prometheus import KafkaPrometheusMiddleware
    from prometheus_client import CollectorRegistry

    return (KafkaPrometheusMiddleware(registry=CollectorRegistry()),)


async def consume_prometheus(p: dict[str, Any]) -> dict[str, Any]:
    """Scenario 1 with FastStream's KafkaPrometheusMiddleware, on AckPolicy.ACK."""
    return await _consume(p, AckPolicy.ACK, _prometheus())


async def consume_prometheus_default(p: dict[str, Any]) -> dict[str, Any]:
    """The same on FastStream's default policy (ACK_FIRST: at-most-once)."""
    return await _consume(p, None, _prometheus())


async def consume_batch(p: dict[str, Any]) -> dict[str, Any]:
    """A batch handler taking ``list[Order]``."""
    counter = Counter(p["count"])
    broker = _broker(p)

    @broker.subscriber(
        p["topic"],
        listener=StartClock(counter),
        group_id=p["group"],
        batch=True,
        max_records=p["max_records"],
        ack_policy=AckPolicy.ACK,
        **EARLY,
    )
    async def handle(orders: list[Order]) -> None:
        counter.tick(len(orders))

    async with broker:
        await broker.start()
        await counter.wait(p["cap"])
    return counter.result()


async def _publish(
    p: dict[str, Any], *, confirm: bool, body: Callable[[int], Any] = make_order
) -> dict[str, Any]:
    count, topic = p["count"], p["topic"]
    orders = [body(i) for i in range(count)]
    async with _broker(p) as broker:
        await broker.publish(body(-1), topic)  # connection and metadata, not timed
        started = time.perf_counter()
        if confirm:
            for order in orders:
                await broker.publish(order, topic)
        else:
            futures = [await broker.publish(order, topic, no_confirm=True) for order in orders]
            for future in futures:
                await future
        elapsed = time.perf_counter() - started
    return {"count": count, "seconds": elapsed, "rate": count / elapsed}


async def publish_no_confirm(p: dict[str, Any]) -> dict[str, Any]:
    """``publish(no_confirm=True)`` for every body, then wait for the confirmations."""
    return await _publish(p, confirm=False)


async def publish_dict_no_confirm(p: dict[str, Any]) -> dict[str, Any]:
    """The same with plain dicts for bodies (scenario 4a)."""
    return await _publish(p, confirm=False, body=order_dict)


async def publish_confirmed(p: dict[str, Any]) -> dict[str, Any]:
    """``await publish()`` one after another."""
    return await _publish(p, confirm=True)


@contextlib.asynccontextmanager
async def confirmed_publisher(
    p: dict[str, Any],
) -> AsyncIterator[Callable[[Order], Awaitable[Any]]]:
    """Scenario 5's one step, ``await broker.publish(order, topic)``, on a connected broker."""
    async with _broker(p) as broker:
        topic = p["topic"]

        async def publish(order: Order) -> Any:
            return await broker.publish(order, topic)

        yield publish


async def pipeline(p: dict[str, Any]) -> dict[str, Any]:
    """consume -> transform -> ``@publisher``."""
    counter = Counter(p["count"])
    broker = _broker(p)

    @broker.subscriber(
        p["topic"],
        listener=StartClock(counter),
        group_id=p["group"],
        ack_policy=AckPolicy.ACK,
        **EARLY,
    )
    @broker.publisher(p["out_topic"])
    async def handle(order: Order) -> Shipped:
        counter.tick()
        return ship(order)

    async with broker:
        await broker.start()
        await counter.wait(p["cap"])
    return counter.result()


async def request_reply(p: dict[str, Any]) -> dict[str, Any]:
    """FastStream's ``request()`` on a real Kafka: reported as it behaves."""
    async with _broker(p) as broker:
        try:
            await broker.request(make_order(0), p["topic"], timeout=5)
        except FeatureNotSupportedException as exc:
            return {"unsupported": f"not supported on real Kafka ({exc})"}
    return {"unsupported": "request() returned; measure it"}  # pragma: no cover


SCENARIOS = {
    "consume_ack": consume_ack,
    "consume_ack_first": consume_ack_first,
    "consume_ack_otel": consume_ack_otel,
    "consume_otel_fs_default": consume_otel_fs_default,
    "consume_prometheus": consume_prometheus,
    "consume_prometheus_default": consume_prometheus_default,
    "consume_batch": consume_batch,
    "publish_no_confirm": publish_no_confirm,
    # 4a and 4b: the same publishing, measured against the plain raw send().
    "publish_plain_dict": publish_dict_no_confirm,
    "publish_plain_model": publish_no_confirm,
    "publish_confirmed": publish_confirmed,
    "pipeline": pipeline,
    "request_reply": request_reply,
    "memory": consume_ack,
}
