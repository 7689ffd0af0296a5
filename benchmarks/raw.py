"""Raw aiokafka: what a careful engineer writes by hand for each scenario.

The baseline topicflow is measured against. Each function does the same useful
work as the framework versions: validate every body with
``Order.model_validate_json``, commit what was handled (per fetched batch),
publish records with the same value and headers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import TopicPartition

from benchmarks.common import (
    Counter,
    Order,
    Shipped,
    StartClock,
    latency_result,
    make_order,
    order_dict,
    ship,
)

JSON_HEADER = ("content-type", b"application/json")


def _consumer(
    p: dict[str, Any], topic: str, counter: Counter | None = None, **options: Any
) -> AIOKafkaConsumer:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=p["bootstrap"],
        group_id=p["group"],
        auto_offset_reset="earliest",
        enable_auto_commit=options.pop("enable_auto_commit", False),
        **options,
    )
    listener = StartClock(counter, consumer) if counter is not None else None
    consumer.subscribe([topic], listener=listener)
    return consumer


def _producer(p: dict[str, Any]) -> AIOKafkaProducer:
    # topicflow's defaults (acks="all", idempotent, linger_ms=0), so both do the same
    # work; rows 4i and 5i turn idempotence off for every implementation.
    return AIOKafkaProducer(
        bootstrap_servers=p["bootstrap"],
        acks="all",
        enable_idempotence=p.get("idempotence", True),
        linger_ms=0,
    )


async def consume_ack(p: dict[str, Any]) -> dict[str, Any]:
    """getmany loop, validate each record, commit each batch after handling it."""
    counter = Counter(p["count"], tuple(p.get("rss_at", ())))
    consumer = _consumer(p, p["topic"], counter)
    await consumer.start()
    validate = Order.model_validate_json
    try:
        while not counter.done.is_set():
            batches = await consumer.getmany(timeout_ms=200)
            for records in batches.values():
                for record in records:
                    validate(record.value)
                    counter.tick()
            if batches:
                await consumer.commit()
            if counter.count and time.perf_counter() - counter.started > p["cap"]:
                counter.ended = time.perf_counter()
                break
    finally:
        await consumer.stop()
    return counter.result()


async def consume_ack_first(p: dict[str, Any]) -> dict[str, Any]:
    """At most once by hand: the client's own background auto commit, then validate."""
    counter = Counter(p["count"])
    consumer = _consumer(p, p["topic"], counter, enable_auto_commit=True)
    await consumer.start()
    validate = Order.model_validate_json
    try:
        while not counter.done.is_set():
            batches = await consumer.getmany(timeout_ms=200)
            for records in batches.values():
                for record in records:
                    validate(record.value)
                    counter.tick()
            if counter.count and time.perf_counter() - counter.started > p["cap"]:
                counter.ended = time.perf_counter()
                break
    finally:
        await consumer.stop()
    return counter.result()


async def consume_batch(p: dict[str, Any]) -> dict[str, Any]:
    """A list of validated models per fetched batch, handed to a handler, then commit."""
    counter = Counter(p["count"])
    consumer = _consumer(p, p["topic"], counter)
    await consumer.start()
    validate = Order.model_validate_json

    async def handler(orders: list[Order]) -> None:
        counter.tick(len(orders))

    try:
        while not counter.done.is_set():
            batches = await consumer.getmany(timeout_ms=200, max_records=p["max_records"])
            if not batches:
                continue
            await handler([validate(r.value) for records in batches.values() for r in records])
            await consumer.commit()
            if time.perf_counter() - counter.started > p["cap"]:
                counter.ended = time.perf_counter()
                break
    finally:
        await consumer.stop()
    return counter.result()


def _headers() -> list[tuple[str, bytes]]:
    return [JSON_HEADER, ("correlation_id", uuid.uuid4().hex.encode())]


async def publish_no_confirm(p: dict[str, Any]) -> dict[str, Any]:
    """Queue every record, with the headers topicflow writes, without waiting; then wait
    for all confirmations."""
    producer = _producer(p)
    await producer.start()
    count, topic = p["count"], p["topic"]
    orders = [make_order(i) for i in range(count)]
    try:
        await producer.partitions_for(topic)
        started = time.perf_counter()
        futures = []
        for order in orders:
            value = order.__pydantic_serializer__.to_json(order)
            futures.append(await producer.send(topic, value, headers=_headers()))
        await asyncio.gather(*futures)
        elapsed = time.perf_counter() - started
    finally:
        await producer.stop()
    return {"count": count, "seconds": elapsed, "rate": count / elapsed}


async def publish_plain_dict(p: dict[str, Any]) -> dict[str, Any]:
    """Scenario 4a's baseline: ``json.dumps(body).encode()`` and ``send()``, no headers.

    The least a user of the client writes to publish dicts; topicflow still adds
    its content type and a correlation id to every record. The futures are
    awaited one by one, as the topicflow and FastStream sides await theirs:
    ``asyncio.gather()`` over 200k futures took this loop from 6.3 to 9-11 us
    per message, none of it publishing (benchmarks/README.md).
    """
    producer = _producer(p)
    await producer.start()
    count, topic = p["count"], p["topic"]
    orders = [order_dict(i) for i in range(count)]
    try:
        await producer.partitions_for(topic)
        started = time.perf_counter()
        futures = []
        for order in orders:
            futures.append(await producer.send(topic, json.dumps(order).encode()))
        for future in futures:
            await future
        elapsed = time.perf_counter() - started
    finally:
        await producer.stop()
    return {"count": count, "seconds": elapsed, "rate": count / elapsed}


async def publish_plain_model(p: dict[str, Any]) -> dict[str, Any]:
    """Scenario 4b's baseline: the model's ``to_json`` and ``send()``, no headers
    (the futures awaited one by one, as in 4a)."""
    producer = _producer(p)
    await producer.start()
    count, topic = p["count"], p["topic"]
    orders = [make_order(i) for i in range(count)]
    try:
        await producer.partitions_for(topic)
        started = time.perf_counter()
        futures = []
        for order in orders:
            futures.append(await producer.send(topic, order.__pydantic_serializer__.to_json(order)))
        for future in futures:
            await future
        elapsed = time.perf_counter() - started
    finally:
        await producer.stop()
    return {"count": count, "seconds": elapsed, "rate": count / elapsed}


async def publish_confirmed(p: dict[str, Any]) -> dict[str, Any]:
    """One record at a time, each awaited until the cluster acknowledged it."""
    producer = _producer(p)
    await producer.start()
    count, topic = p["count"], p["topic"]
    orders = [make_order(i) for i in range(count)]
    try:
        await producer.partitions_for(topic)
        started = time.perf_counter()
        for order in orders:
            value = order.__pydantic_serializer__.to_json(order)
            await producer.send_and_wait(topic, value, headers=_headers())
        elapsed = time.perf_counter() - started
    finally:
        await producer.stop()
    return {"count": count, "seconds": elapsed, "rate": count / elapsed}


@contextlib.asynccontextmanager
async def confirmed_publisher(
    p: dict[str, Any],
) -> AsyncIterator[Callable[[Order], Awaitable[Any]]]:
    """Scenario 5's one step, ``send_and_wait()`` of one record, on a started producer."""
    producer = _producer(p)
    await producer.start()
    topic = p["topic"]

    async def publish(order: Order) -> Any:
        value = order.__pydantic_serializer__.to_json(order)
        return await producer.send_and_wait(topic, value, headers=_headers())

    try:
        yield publish
    finally:
        await producer.stop()


async def pipeline(p: dict[str, Any]) -> dict[str, Any]:
    """Consume, transform, publish; commit a batch once its outputs are confirmed."""
    counter = Counter(p["count"])
    consumer = _consumer(p, p["topic"], counter)
    producer = _producer(p)
    await asyncio.gather(consumer.start(), producer.start())
    validate = Order.model_validate_json
    out = p["out_topic"]
    try:
        while not counter.done.is_set():
            batches = await consumer.getmany(timeout_ms=200)
            futures = []
            for records in batches.values():
                for record in records:
                    shipped = ship(validate(record.value))
                    value = shipped.__pydantic_serializer__.to_json(shipped)
                    headers = [JSON_HEADER, *(h for h in record.headers if h[0] != JSON_HEADER[0])]
                    futures.append(await producer.send(out, value, headers=headers))
                    counter.tick()
            if batches:
                await asyncio.gather(*futures)
                await consumer.commit()
            if counter.count and time.perf_counter() - counter.started > p["cap"]:
                counter.ended = time.perf_counter()
                break
    finally:
        await asyncio.gather(consumer.stop(), producer.stop())
    return counter.result()


async def request_reply(p: dict[str, Any]) -> dict[str, Any]:
    """A responder and a requester by hand, in one process, as topicflow's are.

    The responder consumes the request topic and sends each reply to the request's
    ``reply_to`` with its ``correlation_id``; the requester reads its own reply
    topic (no group) and matches replies to waiting futures.
    """
    rpc, replies = p["topic"], p["reply_topic"]
    producer = _producer(p)
    # The client's background commit: a reply never waits for an offset commit.
    server = _consumer(p, rpc, enable_auto_commit=True)
    client = AIOKafkaConsumer(bootstrap_servers=p["bootstrap"], enable_auto_commit=False)
    await producer.start()
    await producer.partitions_for(replies)
    await asyncio.gather(server.start(), client.start())
    client.assign([TopicPartition(replies, 0)])
    await client.seek_to_end(TopicPartition(replies, 0))
    waiting: dict[bytes, asyncio.Future[Any]] = {}
    validate = Order.model_validate_json

    async def serve() -> None:
        while True:
            batches = await server.getmany(timeout_ms=200)
            for records in batches.values():
                for record in records:
                    headers = dict(record.headers)
                    shipped = ship(validate(record.value))
                    value = shipped.__pydantic_serializer__.to_json(shipped)
                    await producer.send(
                        headers["reply_to"].decode(),
                        value,
                        headers=[JSON_HEADER, ("correlation_id", headers["correlation_id"])],
                    )

    async def listen() -> None:
        while True:
            batches = await client.getmany(timeout_ms=100)
            for records in batches.values():
                for record in records:
                    cid = dict(record.headers).get("correlation_id")
                    future = waiting.pop(cid, None) if cid is not None else None
                    if future is not None and not future.done():
                        future.set_result(record)

    async def request(order: Order) -> float:
        cid = uuid.uuid4().hex.encode()
        future = asyncio.get_running_loop().create_future()
        waiting[cid] = future
        started = time.perf_counter()
        await producer.send(
            rpc,
            order.__pydantic_serializer__.to_json(order),
            headers=[JSON_HEADER, ("correlation_id", cid), ("reply_to", replies.encode())],
        )
        record = await asyncio.wait_for(future, 10)
        Shipped.model_validate_json(record.value)
        return time.perf_counter() - started

    tasks = [asyncio.create_task(serve()), asyncio.create_task(listen())]
    try:
        for i in range(p["warmup"]):
            await request(make_order(i))
        latencies = [await request(make_order(i)) for i in range(p["count"])]
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.gather(server.stop(), client.stop(), producer.stop())
    return latency_result(latencies)


SCENARIOS = {
    "consume_ack": consume_ack,
    "consume_ack_first": consume_ack_first,
    # 1o and 1of compare with the plain client, which traces nothing.
    "consume_ack_otel": consume_ack,
    "consume_otel_fs_default": consume_ack,
    # 1p and 1q: topicflow and FastStream with their Prometheus middleware, against the
    # plain raw loop of scenario 1 (no metrics at all).
    "consume_prometheus": consume_ack,
    "consume_prometheus_default": consume_ack,
    "consume_batch": consume_batch,
    "publish_no_confirm": publish_no_confirm,
    "publish_plain_dict": publish_plain_dict,
    "publish_plain_model": publish_plain_model,
    "publish_confirmed": publish_confirmed,
    "pipeline": pipeline,
    "request_reply": request_reply,
    "memory": consume_ack,
}
