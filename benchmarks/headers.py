"""What record headers alone cost the raw client: ``python -m benchmarks.headers
[--count N] [--reps R] [--bootstrap HOST:PORT]``.

Scenario 4b compares topicflow, which writes a content type and a correlation id
on every record, with a client writing no headers. This measures the raw client
three ways on the same Kafka, the runs interleaved: no headers, the correlation
id alone, and both headers topicflow writes. The ratios to the headerless run
are the ceiling any framework that carries a correlation id can reach in 4b.
Needs a running Kafka (``scripts/kafka start``).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid

from aiokafka import AIOKafkaProducer

from benchmarks.common import make_order

JSON_HEADER = ("content-type", b"application/json")

VARIANTS = ("none", "correlation_id", "both")


def _headers(variant: str, correlation_id: bytes) -> list[tuple[str, bytes]] | None:
    if variant == "none":
        return None
    if variant == "correlation_id":
        return [("correlation_id", correlation_id)]
    return [JSON_HEADER, ("correlation_id", correlation_id)]


async def measure(bootstrap: str, variant: str, count: int) -> float:
    """Microseconds per record for ``count`` models sent with the variant's headers,
    the futures awaited one by one after the last send (as in scenario 4b)."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=0)
    await producer.start()
    topic = f"bench-headers-{variant}-{uuid.uuid4().hex[:8]}"
    orders = [make_order(i) for i in range(count)]
    ids = [f"{i:032x}".encode() for i in range(count)]
    try:
        await producer.send_and_wait(topic, b"{}")  # the topic and its metadata, untimed
        started = time.perf_counter()
        futures = []
        for order, correlation_id in zip(orders, ids, strict=True):
            value = order.__pydantic_serializer__.to_json(order)
            headers = _headers(variant, correlation_id)
            futures.append(await producer.send(topic, value, headers=headers))
        for future in futures:
            await future
        return (time.perf_counter() - started) / count * 1e6
    finally:
        await producer.stop()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.headers", description=__doc__)
    parser.add_argument("--count", type=int, default=200_000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    args = parser.parse_args()
    times: dict[str, list[float]] = {variant: [] for variant in VARIANTS}
    for rep in range(args.reps):
        order = VARIANTS[rep % 3 :] + VARIANTS[: rep % 3]  # rotate, to share the noise
        for variant in order:
            times[variant].append(asyncio.run(measure(args.bootstrap, variant, args.count)))
    base = statistics.median(times["none"])
    for variant in VARIANTS:
        median = statistics.median(times[variant])
        runs = ", ".join(f"{t:.2f}" for t in times[variant])
        print(f"{variant:>15}: {median:.2f} us/record ({runs}), {base / median:.2f}x of none")


if __name__ == "__main__":
    main()
