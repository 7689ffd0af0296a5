"""Publishing shapes, replies and request() on the real Kafka."""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

import pytest
from pydantic import BaseModel

from tests.helpers import committed_offsets, eventually, read_all
from topicflow import BaseMiddleware
from topicflow.kafka import KafkaBroker, KafkaMessage, KafkaResponse

pytestmark = pytest.mark.kafka

EARLY = {"auto_offset_reset": "earliest"}


class Echo(BaseModel):
    n: int


def tag() -> str:
    return uuid.uuid4().hex[:8]


async def test_publish_batch_and_batch_publisher(bootstrap: str) -> None:
    t = tag()
    broker = KafkaBroker(bootstrap)
    fan_out = broker.publisher(f"fan-{t}", batch=True)

    @broker.subscriber(f"in-{t}", **EARLY)
    @fan_out
    async def split(text: str) -> list[str]:
        return text.split()

    async with broker:
        await broker.start()
        meta = await broker.publish_batch(1, 2, 3, topic=f"batch-{t}", key="k")
        await broker.publish("a b c d", f"in-{t}")
        records = await read_all(bootstrap, f"fan-{t}", 4)
        batch = await read_all(bootstrap, f"batch-{t}", 3)
    assert [r.value for r in records] == [b"a", b"b", b"c", b"d"]
    assert len({r.partition for r in records}) == 1  # one batch, one partition, in order
    assert [r.value for r in batch] == [b"1", b"2", b"3"]
    assert meta.offset == 0


async def test_kafka_response_stacked_publishers_autoflush_and_tombstones(bootstrap: str) -> None:
    t = tag()
    broker = KafkaBroker(bootstrap, linger_ms=10_000)  # without autoflush nothing leaves soon

    @broker.subscriber(f"in-{t}", **EARLY)
    @broker.publisher(f"a-{t}", autoflush=True)
    @broker.publisher(f"b-{t}", autoflush=True)
    async def handle(body: str) -> KafkaResponse:
        return KafkaResponse(body.upper(), key=b"chosen", headers={"x-kind": "shout"})

    async with broker, KafkaBroker(bootstrap) as producer:
        await broker.start()
        await producer.publish("hi", f"in-{t}", correlation_id="c-1")
        a = await read_all(bootstrap, f"a-{t}", 1, timeout=5)  # well within linger_ms
        b = await read_all(bootstrap, f"b-{t}", 1, timeout=5)
        await producer.publish(None, f"tomb-{t}", key="gone")
        tomb = await read_all(bootstrap, f"tomb-{t}", 1)
    for [record] in (a, b):
        assert record.value == b"HI"
        assert record.key == b"chosen"
        headers = dict(record.headers)
        assert headers["x-kind"] == b"shout"
        assert headers["correlation_id"] == b"c-1"  # kept from the consumed message
    assert tomb[0].value is None
    assert tomb[0].key == b"gone"


async def test_replies_and_no_reply(bootstrap: str) -> None:
    t = tag()
    broker = KafkaBroker(bootstrap)

    @broker.subscriber(f"rpc-{t}", **EARLY)
    async def double(n: int) -> int:
        return n * 2

    @broker.subscriber(f"quiet-{t}", no_reply=True, **EARLY)
    async def quiet(n: int) -> int:
        return n

    async with broker:
        await broker.start()
        await broker.publish(21, f"rpc-{t}", reply_to=f"answers-{t}", correlation_id="q-1")
        await broker.publish(5, f"quiet-{t}", reply_to=f"answers-{t}", correlation_id="q-2")
        await broker.publish(0, f"answers-{t}", correlation_id="marker")
        records = await read_all(bootstrap, f"answers-{t}", 2)
    assert [(r.value, dict(r.headers)["correlation_id"]) for r in records] == [
        (b"0", b"marker"),
        (b"42", b"q-1"),
    ] or [(r.value, dict(r.headers)["correlation_id"]) for r in records] == [
        (b"42", b"q-1"),
        (b"0", b"marker"),
    ]


async def test_request_reply_and_publisher_request(bootstrap: str) -> None:
    t = tag()
    log: list[str] = []

    class Seen(BaseMiddleware):
        async def publish_scope(self, call_next: Any, cmd: Any) -> Any:
            log.append(cmd.topic)
            return await call_next(cmd)

    service = KafkaBroker(bootstrap)

    @service.subscriber(f"echo-{t}", **EARLY)
    async def echo(body: Echo, msg: KafkaMessage) -> Echo:
        return Echo(n=body.n + 1)

    client = KafkaBroker(bootstrap, middlewares=[Seen])
    async with service, client:
        await service.start()
        await client.connect()
        reply = await client.request(Echo(n=1), f"echo-{t}", timeout=10)
        assert await reply.decode() == {"n": 2}
        assert reply.content_type == "application/json"
        publisher = client.publisher(f"echo-{t}")
        await client.start()
        second = await publisher.request(Echo(n=41), timeout=10)
        assert await second.decode() == {"n": 42}
    assert log == [f"echo-{t}", f"echo-{t}"]  # request() goes through middlewares
    assert client.pending_requests == 0


async def test_a_thousand_concurrent_requests_each_get_their_own_reply(bootstrap: str) -> None:
    t = tag()
    service = KafkaBroker(bootstrap)

    @service.subscriber(f"slow-echo-{t}", max_workers=50, **EARLY)
    async def echo(n: int) -> int:
        await asyncio.sleep(0.01)
        return n

    client = KafkaBroker(bootstrap, linger_ms=5)
    async with service, client:
        await service.start()
        await client.request(-1, f"slow-echo-{t}", timeout=20)  # warm up the reply topic
        replies = await asyncio.gather(
            *(client.request(n, f"slow-echo-{t}", timeout=60) for n in range(1000))
        )
        values = [await reply.decode() for reply in replies]
        assert client.pending_requests == 0
    assert values == list(range(1000))


async def test_request_timeout_leaves_nothing_and_late_replies_are_dropped(
    bootstrap: str, caplog: pytest.LogCaptureFixture
) -> None:
    t = tag()
    service = KafkaBroker(bootstrap)
    release = asyncio.Event()

    @service.subscriber(f"late-{t}", **EARLY)
    async def late(n: int) -> int:
        await release.wait()
        return n

    caplog.set_level(logging.DEBUG, logger="topicflow")
    client = KafkaBroker(bootstrap)
    async with service, client:
        await service.start()
        await client.connect()
        with pytest.raises(TimeoutError, match="no reply"):
            await client.request(1, f"late-{t}", timeout=1.0)
        assert client.pending_requests == 0
        release.set()  # the reply now arrives after its request gave up
        await eventually(lambda: "came after its request timed out" in caplog.text)
        assert client.pending_requests == 0


async def test_a_publisher_declared_after_start_publishes(bootstrap: str) -> None:
    t = tag()
    broker = KafkaBroker(bootstrap)
    async with broker:
        await broker.start()
        late = broker.publisher(f"late-{t}", headers={"late": "yes"})
        await late.publish("hello")
        [record] = await read_all(bootstrap, f"late-{t}", 1)
    assert record.value == b"hello"
    assert dict(record.headers)["late"] == b"yes"


async def test_a_message_is_committed_only_once_what_it_published_is_confirmed(
    bootstrap: str, group: str
) -> None:
    t = tag()
    # linger_ms holds the published record back for seconds: the handler returns at
    # once, the next message could go, but this one must stay uncommitted until then.
    broker = KafkaBroker(bootstrap, linger_ms=4_000)
    handled = asyncio.Event()

    @broker.subscriber(f"in-{t}", group_id=group, auto_commit_interval_ms=100, **EARLY)
    @broker.publisher(f"out-{t}")
    async def handle(body: Echo) -> Echo:
        handled.set()
        return Echo(n=body.n + 1)

    async with broker, KafkaBroker(bootstrap) as producer:
        await broker.start()
        await producer.publish(Echo(n=1), f"in-{t}")
        await asyncio.wait_for(handled.wait(), 15)
        await asyncio.sleep(1.5)  # several commit rounds
        assert await committed_offsets(bootstrap, group) == {}
        [record] = await read_all(bootstrap, f"out-{t}", 1)
        await eventually(lambda: _committed(bootstrap, group, 1))
    assert Echo.model_validate_json(record.value) == Echo(n=2)


async def _committed(bootstrap: str, group: str, offset: int) -> bool:
    return list((await committed_offsets(bootstrap, group)).values()) == [offset]
