"""The per-message cost of topicflow's consume path, without Kafka:
``python -m benchmarks.micro [--count N] [--policy ack|ack_first] [--batch] [--otel]
[--prometheus]``.

It hands pre-built records to a subscriber's ``_dispatch`` exactly as the fetch
loop does (offset tracking and commit bookkeeping included, the commit itself a
no-op) and compares with the raw loop's work (``Order.model_validate_json`` per
record). The difference is what the framework adds per message; it moves by
tenths of a microsecond where the Kafka runs move by 10-30% on a shared machine.
It counts CPU time (best of several rounds), so other processes on the machine
disturb it little.

With ``--otel`` the broker has the OpenTelemetry middleware on the SDK (spans
and metrics exported nowhere, as in scenario 1o), and the line also shows what
the SDK alone costs per message: one span with the same attributes, ended, and
the duration and count recorded, by hand, with no framework around it.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

from aiokafka.structs import ConsumerRecord, TopicPartition

from benchmarks.common import Order, Shipped, order_record, otel_providers, ship
from topicflow import AckPolicy
from topicflow._tasks import Backoff, Supervision, TaskGroup
from topicflow.ack import OffsetCommitter
from topicflow.kafka import KafkaBroker
from topicflow.kafka._loop import ConsumerLoop
from topicflow.kafka._subscriber import FETCH_RECORDS
from topicflow.kafka._transport import ConsumerSpec


def records(count: int, tp: TopicPartition) -> list[ConsumerRecord[bytes, bytes]]:
    out = []
    for i in range(count):
        value, headers = order_record(i)
        out.append(
            ConsumerRecord(
                tp.topic, tp.partition, i, 0, 0, None, value, None, len(value), 0, headers
            )
        )
    return out


class NullCommit:
    """The group's consumer, as the committer sees it: commits go nowhere."""

    async def commit(self, offsets: Any) -> None:
        return None


class NullTransport:
    """Takes publishes (the pipeline's) and confirms them at once."""

    async def connect(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def send(self, *args: Any, **kwargs: Any) -> asyncio.Future[None]:
        future = asyncio.get_running_loop().create_future()
        future.set_result(None)
        return future


class NullObserver:
    """Connects the broker to the NullTransport; leaves pipelines as they are."""

    def transport(self, default: Any) -> Any:
        return NullTransport()

    def pipeline(self, subscriber: Any, consumer: Any, pipeline: Any) -> Any:
        return pipeline


async def topicflow_cost(
    count: int,
    policy: AckPolicy,
    batch: bool,
    pipeline: bool,
    rounds: int,
    otel: bool = False,
    prometheus: bool = False,
) -> float:
    middlewares: list[Any] = []
    if otel:
        from topicflow.kafka.opentelemetry import KafkaTelemetryMiddleware

        tracer_provider, meter_provider = otel_providers()
        middlewares.append(
            KafkaTelemetryMiddleware(tracer_provider=tracer_provider, meter_provider=meter_provider)
        )
    if prometheus:
        from prometheus_client import CollectorRegistry

        from topicflow.kafka.prometheus import KafkaPrometheusMiddleware

        middlewares.append(KafkaPrometheusMiddleware(registry=CollectorRegistry()))
    broker = KafkaBroker("127.0.0.1:1", logger=None, middlewares=middlewares)
    seen = [0]
    if batch:

        @broker.subscriber("t", group_id="g", batch=True, ack_policy=policy)
        async def handle_batch(orders: list[Order]) -> None:
            seen[0] += len(orders)

    elif pipeline:

        @broker.subscriber("t", group_id="g", ack_policy=policy)
        @broker.publisher("out")
        async def handle_pipe(order: Order) -> Shipped:
            seen[0] += 1
            return ship(order)

    else:

        @broker.subscriber("t", group_id="g", ack_policy=policy)
        async def handle(order: Order) -> None:
            seen[0] += 1

    [sub] = broker.resolve()
    broker.observe(NullObserver())
    await broker.connect()
    loop = ConsumerLoop(
        ConsumerSpec(topics=("t",), group_id="g"),
        sub._dispatch,
        pipeline=sub._pipeline,
        tasks=TaskGroup("micro", Supervision(), None),
        name="micro",
        logger=None,
        graceful_timeout=1,
        backoff=Backoff(),
        fetch_timeout_ms=100,
        max_records=None,
        commit_interval=5,
    )
    loop.running = True
    loop.offsets = OffsetCommitter(NullCommit(), logger=None)
    tp = TopicPartition("t", 0)
    data = records(count, tp)
    best = float("inf")
    for _ in range(rounds):
        loop.offsets.forget([tp])
        # As the fetch loop hands them over: at most FETCH_RECORDS (max_records for a
        # batch) at a time, with the event loop running in between (where the
        # confirmations of the pipeline's publishes land and finish their messages).
        size = 1000 if batch else FETCH_RECORDS
        chunks = [data[i : i + size] for i in range(0, count, size)]
        started = time.process_time()
        for chunk in chunks:
            await sub._dispatch(loop, {tp: chunk})
            await asyncio.sleep(0)
        best = min(best, time.process_time() - started)
    return best / count


def sdk_cost(count: int, rounds: int) -> float:
    """The OpenTelemetry SDK's own work per message (see the module docstring)."""
    from opentelemetry.trace import SpanKind

    tracer_provider, meter_provider = otel_providers()
    tracer = tracer_provider.get_tracer("micro")
    meter = meter_provider.get_meter("micro")
    duration = meter.create_histogram("messaging.process.duration", unit="s")
    processed = meter.create_counter("messaging.process.messages")
    data = records(count, TopicPartition("t", 0))
    labels = {"messaging.system": "kafka", "messaging.destination.name": "t"}
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        for record in data:
            span = tracer.start_span(
                "t process",
                kind=SpanKind.CONSUMER,
                attributes={
                    "messaging.system": "kafka",
                    "messaging.destination_publish.name": record.topic,
                    "messaging.destination.name": record.topic,
                    "messaging.message.id": f"{record.topic}-{record.partition}-{record.offset}",
                    "messaging.message.payload_size_bytes": record.serialized_value_size,
                    "messaging.message.body.size": record.serialized_value_size,
                    "messaging.kafka.destination.partition": record.partition,
                    "messaging.destination.partition.id": str(record.partition),
                    "messaging.kafka.message.offset": record.offset,
                    "messaging.kafka.offset": record.offset,
                    "messaging.operation": "process",
                    "messaging.operation.type": "process",
                    "messaging.operation.name": "process",
                    "messaging.message.conversation_id": "c",
                    "messaging.consumer.group.name": "g",
                },
            )
            span.end()
            duration.record(0.0001, labels)
            processed.add(1, labels)
        best = min(best, time.process_time() - started)
    tracer_provider.shutdown()
    meter_provider.shutdown()
    return best / count


def raw_cost(count: int, rounds: int) -> float:
    data = records(count, TopicPartition("t", 0))
    validate = Order.model_validate_json
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        for record in data:
            validate(record.value)
        best = min(best, time.process_time() - started)
    return best / count


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.micro")
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--policy", default="ack", choices=[p.value for p in AckPolicy])
    parser.add_argument("--batch", action="store_true")
    parser.add_argument("--pipeline", action="store_true", help="with @publisher (no Kafka)")
    parser.add_argument("--otel", action="store_true", help="with the OpenTelemetry middleware")
    parser.add_argument(
        "--prometheus", action="store_true", help="with KafkaPrometheusMiddleware on the broker"
    )
    args = parser.parse_args()
    raw = raw_cost(args.count, args.rounds)
    tf = asyncio.run(
        topicflow_cost(
            args.count,
            AckPolicy(args.policy),
            args.batch,
            args.pipeline,
            args.rounds,
            args.otel,
            args.prometheus,
        )
    )
    line = (
        f"raw {raw * 1e6:.2f} us/msg, topicflow {tf * 1e6:.2f} us/msg "
        f"(+{(tf - raw) * 1e6:.2f} us, raw/topicflow {raw / tf:.2f})"
    )
    if args.otel:
        sdk = sdk_cost(args.count, args.rounds)
        line += f"; the OpenTelemetry SDK alone {sdk * 1e6:.2f} us/msg"
    print(line)


if __name__ == "__main__":
    main()
