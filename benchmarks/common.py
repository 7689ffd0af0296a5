"""What every benchmark worker shares: the message types, the records on the topics,
measuring, and the one JSON line a worker reports.

All three implementations (topicflow, raw aiokafka, FastStream) read the same
pre-filled records and do the same useful work per message: validate the body
as :class:`Order` (and, in the pipeline, build and publish a :class:`Shipped`).
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from aiokafka import ConsumerRebalanceListener
from pydantic import BaseModel


class Order(BaseModel):
    """The 3-field body every consume scenario validates."""

    id: int
    name: str
    price: float


class Shipped(BaseModel):
    """What the pipeline scenario makes of an :class:`Order` and publishes."""

    id: int
    name: str
    total: float


def ship(order: Order) -> Shipped:
    """The pipeline's transformation (the same in every implementation)."""
    return Shipped(id=order.id, name=order.name, total=round(order.price * 1.2, 2))


def order_record(i: int) -> tuple[bytes, list[tuple[str, bytes]]]:
    """The i-th pre-filled record: a JSON ``Order`` with the headers topicflow and
    FastStream both write (content type and correlation id)."""
    value = Order(id=i, name=f"item-{i % 100}", price=i % 1000 / 100).model_dump_json()
    headers = [
        ("content-type", b"application/json"),
        ("correlation_id", uuid.uuid4().hex.encode()),
    ]
    return value.encode(), headers


def make_order(i: int) -> Order:
    """The i-th body the publish scenarios send."""
    return Order(id=i, name=f"item-{i % 100}", price=i % 1000 / 100)


def order_dict(i: int) -> dict[str, Any]:
    """The i-th body as a plain dict: what scenario 4a publishes instead of a model."""
    return {"id": i, "name": f"item-{i % 100}", "price": i % 1000 / 100}


def rss_bytes() -> int:
    """The process's resident set size now (Linux)."""
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * resource.getpagesize()


def peak_rss_bytes() -> int:
    """The highest resident set size the process has had (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


@dataclass
class Counter:
    """Counts handled messages; times them from the partition assignment to the
    ``target``-th message.

    Each implementation calls :meth:`tick` once per handled message (or batch,
    with its size), after its useful work. The clock starts when the consumer is
    handed its partitions (:class:`StartClock`), so fetching, which is most of a
    consumer's work, is timed from the first fetch on, the same for everyone.
    ``rss_at`` samples the RSS at those counts.
    """

    target: int
    rss_at: tuple[int, ...] = ()
    count: int = 0
    started: float = 0.0
    ended: float = 0.0
    rss: dict[int, int] = field(default_factory=dict)
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def start(self) -> None:
        """The consumer has its partitions: fetching begins now."""
        if not self.started:
            self.started = time.perf_counter()

    def tick(self, n: int = 1) -> None:
        if not self.started:  # no assignment seen (manual assignment): time from here
            self.started = time.perf_counter()
        self.count += n
        if self.rss_at and self.count in self.rss_at:
            self.rss[self.count] = rss_bytes()
        if self.count >= self.target and not self.done.is_set():
            self.ended = time.perf_counter()
            self.done.set()

    async def wait(self, cap: float) -> None:
        """Until ``target`` messages were handled, or ``cap`` seconds after the first."""
        while not self.done.is_set():
            if self.count and time.perf_counter() - self.started > cap:
                self.ended = time.perf_counter()
                return
            try:
                await asyncio.wait_for(self.done.wait(), 0.2)
            except TimeoutError:
                continue

    def result(self) -> dict[str, Any]:
        elapsed = self.ended - self.started
        return {
            "count": self.count,
            "seconds": elapsed,
            "rate": self.count / elapsed if elapsed > 0 else 0.0,
            "rss": {str(k): v for k, v in self.rss.items()},
        }


class StartClock(ConsumerRebalanceListener):
    """A rebalance listener that starts the :class:`Counter`'s clock on assignment.

    Every implementation accepts it (topicflow and FastStream as ``listener=``).
    topicflow looks up each assigned partition's position before it calls a
    listener; with ``consumer`` (the raw client), this does the same first, so
    that lookup is outside the timed span for both.
    """

    def __init__(self, counter: Counter, consumer: Any = None) -> None:
        self.counter = counter
        self.consumer = consumer

    async def on_partitions_revoked(self, revoked: Any) -> None:
        return None

    async def on_partitions_assigned(self, assigned: Any) -> None:
        if self.consumer is not None:
            for tp in assigned:
                await self.consumer.position(tp)
        if assigned:
            self.counter.start()


def percentile(values: list[float], q: float) -> float:
    """The ``q``-quantile (0..1) of ``values``, nearest rank."""
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * len(ordered) + 0.5) - 1))
    return ordered[index]


def latency_result(latencies: list[float]) -> dict[str, Any]:
    """p50/p99 in milliseconds, and the rate the calls ran at."""
    return {
        "count": len(latencies),
        "p50_ms": percentile(latencies, 0.50) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "rate": len(latencies) / sum(latencies) if latencies else 0.0,
    }


def report(result: dict[str, Any]) -> None:
    """The worker's one line for the runner (stdout; everything else goes to stderr)."""
    result = {**result, "peak_rss": peak_rss_bytes()}
    sys.stdout.write("RESULT " + json.dumps(result) + "\n")
    sys.stdout.flush()


def otel_providers() -> tuple[Any, Any]:
    """The OpenTelemetry SDK as a production service sets it up, exporting nowhere: a
    tracer provider with a ``BatchSpanProcessor`` whose exporter drops the spans, and a
    meter provider whose periodic reader (every 60 s) drops the metrics. The same for
    topicflow's middleware and FastStream's (scenarios 1o and 1of)."""
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import (
        MetricExporter,
        MetricExportResult,
        PeriodicExportingMetricReader,
    )
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import (
        BatchSpanProcessor,
        SpanExporter,
        SpanExportResult,
    )

    class DropSpans(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    class DropMetrics(MetricExporter):
        def export(self, metrics_data: Any, timeout_millis: float = 0, **kw: Any) -> Any:
            return MetricExportResult.SUCCESS

        def force_flush(self, timeout_millis: float = 0) -> bool:
            return True

        def shutdown(self, timeout_millis: float = 0, **kw: Any) -> None:
            return None

    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(BatchSpanProcessor(DropSpans()))
    reader = PeriodicExportingMetricReader(DropMetrics(), export_interval_millis=60_000)
    return tracer_provider, MeterProvider(metric_readers=[reader])
