"""topicflow: each scenario written as a topicflow service would be."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from benchmarks.common import (
    Counter,
    Order,
    Shipped,
    StartClock,
    latency_result,
    make_order,
    order_dict,
    otel_providers,
    ship,
)
from topicflow import AckPolicy
from topicflow.kafka import KafkaBroker

EARLY = {"auto_offset_reset": "earliest"}


def _broker(p: dict[str, Any], middlewares: tuple[Any, ...] = ()) -> KafkaBroker:
    # logger=None: the comparison is about the message path, not log formatting.
    # Idempotent, the default, but in rows 4i and 5i.
    return KafkaBroker(
        p["bootstrap"],
        logger=None,
        enable_idempotence=p.get("idempotence", True),
        middlewares=middlewares,
    )


async def _consume(
    p: dict[str, Any], policy: AckPolicy, middlewares: tuple[Any, ...] = ()
) -> dict[str, Any]:
    counter = Counter(p["count"], tuple(p.get("rss_at", ())))
    broker = _broker(p, middlewares)

    @broker.subscriber(
        p["topic"], listener=StartClock(counter), group_id=p["group"], ack_policy=policy, **EARLY
    )
    async def handle(order: Order) -> None:
        counter.tick()

    async with broker:
        await broker.start()
        await counter.wait(p["cap"])
    return counter.result()


async def consume_ack(p: dict[str, Any]) -> dict[str, Any]:
    """A single-message handler with a typed body under the default policy (ACK)."""
    return await _consume(p, AckPolicy.ACK)


async def consume_ack_first(p: dict[str, Any]) -> dict[str, Any]:
    """The same under ACK_FIRST."""
    return await _consume(p, AckPolicy.ACK_FIRST)


async def consume_ack_otel(p: dict[str, Any]) -> dict[str, Any]:
    """Scenario 1 with the OpenTelemetry middleware on the SDK, exporting nowhere."""
    from topicflow.kafka.opentelemetry import KafkaTelemetryMiddleware

    tracer_provider, meter_provider = otel_providers()
    telemetry = KafkaTelemetryMiddleware(
        tracer_provider=tracer_provider, meter_provider=meter_provider
    )
    try:
        return await _consume(p, AckPolicy.ACK, (telemetry,))
    finally:
        tracer_provider.shutdown()
        meter_provider.shutdown()


async def consume_prometheus(p: dict[str, Any]) -> dict[str, Any]:
    """Scenario 1 with KafkaPrometheusMiddleware on the broker."""
    from prometheus_client import CollectorRegistry

    from topicflow.kafka.prometheus import KafkaPrometheusMiddleware

    middleware = KafkaPrometheusMiddleware(registry=CollectorRegistry())
    return await _consume(p, AckPolicy.ACK, (middleware,))


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
    """Scenario 5's one step, ``await broker.publish(order, topic)``, on a connected broker
    (``benchmarks/together.py`` times it beside the other implementations)."""
    async with _broker(p) as broker:
        topic = p["topic"]

        async def publish(order: Order) -> Any:
            return await broker.publish(order, topic)

        yield publish


async def pipeline(p: dict[str, Any]) -> dict[str, Any]:
    """consume -> transform -> ``@publisher``."""
    counter = Counter(p["count"])
    broker = _broker(p)

    @broker.subscriber(p["topic"], listener=StartClock(counter), group_id=p["group"], **EARLY)
    @broker.publisher(p["out_topic"])
    async def handle(order: Order) -> Shipped:
        counter.tick()
        return ship(order)

    async with broker:
        await broker.start()
        await counter.wait(p["cap"])
    return counter.result()


async def request_reply(p: dict[str, Any]) -> dict[str, Any]:
    """``broker.request()`` round trips to a subscriber of the same broker."""
    broker = _broker(p)

    @broker.subscriber(p["topic"], group_id=p["group"], **EARLY)
    async def serve(order: Order) -> Shipped:
        return ship(order)

    async def request(order: Order) -> float:
        started = time.perf_counter()
        reply = await broker.request(order, p["topic"], timeout=10)
        Shipped.model_validate_json(reply.body)
        return time.perf_counter() - started

    async with broker:
        await broker.start()
        for i in range(p["warmup"]):
            await request(make_order(i))
        latencies = [await request(make_order(i)) for i in range(p["count"])]
    return latency_result(latencies)


SCENARIOS = {
    "consume_ack": consume_ack,
    "consume_ack_first": consume_ack_first,
    # 1o and 1of: topicflow's side is the same; FastStream's policy differs.
    "consume_ack_otel": consume_ack_otel,
    "consume_otel_fs_default": consume_ack_otel,
    # 1p and 1q: the same topicflow side; FastStream on ACK, then on its default.
    "consume_prometheus": consume_prometheus,
    "consume_prometheus_default": consume_prometheus,
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
