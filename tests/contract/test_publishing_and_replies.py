"""Contract: batch publishing, KafkaResponse, replies, no_reply and request()."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pydantic import BaseModel

from tests.contract.conftest import Backend
from topicflow.kafka import KafkaMessage, KafkaResponse
from topicflow.kafka._memory import partition_for_key

EARLY: dict[str, Any] = {"auto_offset_reset": "earliest"}


class Echo(BaseModel):
    n: int


async def test_publish_batch_lands_on_one_partition_in_order(
    backend: Backend, topic: str, group: str
) -> None:
    await backend.create_topic(topic, 3)
    broker = backend.broker()
    got: list[tuple[int, int, int]] = []

    @broker.subscriber(topic, group_id=group, **EARLY)
    async def handle(n: int, msg: KafkaMessage) -> None:
        got.append((msg.partition, msg.offset, n))

    async with backend.run(broker) as br:
        meta = await br.publish_batch(1, 2, 3, topic=topic, key="k")
        # It returned once every record of the batch was handled.
        partition = partition_for_key(b"k", 3)
        assert (meta.partition, meta.offset) == (partition, 0)
        assert got == [(partition, 0, 1), (partition, 1, 2), (partition, 2, 3)]


async def test_a_batch_publisher_sends_a_handlers_list_as_one_batch(
    backend: Backend, topic: str
) -> None:
    broker = backend.broker()
    fan_out = broker.publisher(f"{topic}-words", batch=True)
    words: list[tuple[int, str]] = []

    @broker.subscriber(topic, **EARLY)
    @fan_out
    async def split(text: str) -> list[str]:
        return text.split()

    @broker.subscriber(f"{topic}-words", **EARLY)
    async def collect(word: str, msg: KafkaMessage) -> None:
        words.append((msg.partition, word))

    async with backend.run(broker) as br:
        await br.publish("a b c", topic)
        assert [word for _, word in words] == ["a", "b", "c"]
        assert len({partition for partition, _ in words}) == 1
        fan_out.mock.assert_called_once_with(["a", "b", "c"])  # type: ignore[attr-defined]


async def test_kafka_response_sets_key_and_headers_and_keeps_the_correlation_id(
    backend: Backend, topic: str
) -> None:
    broker = backend.broker()
    got: list[KafkaMessage] = []

    @broker.subscriber(topic, **EARLY)
    @broker.publisher(f"{topic}-out")
    async def shout(body: str) -> KafkaResponse:
        return KafkaResponse(body.upper(), key=b"chosen", headers={"x-kind": "shout"})

    @broker.subscriber(f"{topic}-out", **EARLY)
    async def collect(msg: KafkaMessage) -> None:
        got.append(msg)

    async with backend.run(broker) as br:
        await br.publish("hi", topic, correlation_id="c-1")
        [msg] = got
        assert await msg.decode() == "HI"
        assert msg.key == b"chosen"
        assert msg.headers["x-kind"] == "shout"
        assert msg.correlation_id == "c-1"


async def test_a_publishers_own_key_and_headers_go_with_each_result(
    backend: Backend, topic: str, group: str
) -> None:
    broker = backend.broker()
    got: list[KafkaMessage] = []

    # group_id: a committing subscriber, whose results are confirmed in the background.
    @broker.subscriber(topic, group_id=group, **EARLY)
    @broker.publisher(f"{topic}-out", key="fixed", headers={"x-source": "orders"})
    async def forward(n: int) -> Echo:
        return Echo(n=n + 1)

    @broker.subscriber(f"{topic}-out", **EARLY)
    async def collect(msg: KafkaMessage) -> None:
        got.append(msg)

    async with backend.run(broker) as br:
        await br.publish(1, topic, correlation_id="c-9")
        [msg] = got
        assert await msg.decode() == {"n": 2}
        assert msg.key == b"fixed"
        assert msg.headers == {
            "content-type": "application/json",
            "correlation_id": "c-9",
            "x-source": "orders",
        }


async def test_replies_go_to_reply_to_unless_no_reply(backend: Backend, topic: str) -> None:
    broker = backend.broker()
    answers: list[tuple[Any, str]] = []

    @broker.subscriber(f"{topic}-rpc", **EARLY)
    async def double(n: int) -> int:
        return n * 2

    @broker.subscriber(f"{topic}-quiet", no_reply=True, **EARLY)
    async def quiet(n: int) -> int:
        return n

    @broker.subscriber(f"{topic}-answers", **EARLY)
    async def collect(body: int, msg: KafkaMessage) -> None:
        answers.append((body, msg.correlation_id))

    async with backend.run(broker) as br:
        await br.publish(21, f"{topic}-rpc", reply_to=f"{topic}-answers", correlation_id="q-1")
        await br.publish(5, f"{topic}-quiet", reply_to=f"{topic}-answers", correlation_id="q-2")
        # Each publish returned once the reply, if any, was handled too.
        assert answers == [(42, "q-1")]


async def test_request_gets_the_reply(backend: Backend, topic: str) -> None:
    broker = backend.broker()
    service = broker.subscriber(topic, **EARLY)
    publisher = broker.publisher(topic)

    @service
    async def echo(body: Echo) -> Echo:
        return Echo(n=body.n + 1)

    async with backend.run(broker) as br:
        reply = await br.request(Echo(n=1), topic, timeout=10)
        assert await reply.decode() == {"n": 2}
        assert reply.content_type == "application/json"
        again = await publisher.request(Echo(n=41), timeout=10)
        assert await again.decode() == {"n": 42}
        assert br.pending_requests == 0
        assert [c.args for c in service.mock.call_args_list] == [({"n": 1},), ({"n": 41},)]  # type: ignore[attr-defined]


async def test_a_request_that_times_out_leaves_nothing_pending(
    backend: Backend, topic: str
) -> None:
    broker = backend.broker()
    release = asyncio.Event()

    @broker.subscriber(topic, **EARLY)
    async def late(n: int) -> int:
        await release.wait()
        return n

    async with backend.run(broker) as br:
        with pytest.raises(TimeoutError, match="no reply"):
            await br.request(1, topic, timeout=0.5)
        assert br.pending_requests == 0
        release.set()  # its reply comes after the request gave up, and is dropped
        with pytest.raises(TimeoutError, match="no reply"):
            await br.request(2, f"{topic}-nobody", timeout=0.2)
        assert br.pending_requests == 0
