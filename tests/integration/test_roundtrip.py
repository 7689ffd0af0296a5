"""The first slice end to end, against the real Kafka: publish, consume, validate, commit."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from typing import Any

import pytest
from pydantic import BaseModel

from tests.helpers import committed_offsets, eventually, read_all
from topicflow.kafka import KafkaBroker, KafkaMessage

pytestmark = pytest.mark.kafka


class Order(BaseModel):
    id: int
    item: str
    qty: int = 1


@dataclasses.dataclass
class Point:
    x: int
    y: int


async def test_model_is_published_consumed_and_validated(
    bootstrap: str, topic: str, group: str
) -> None:
    broker = KafkaBroker(bootstrap)
    received: list[Order] = []

    @broker.subscriber(topic, group_id=group, auto_offset_reset="earliest")
    async def handle(order: Order) -> None:
        received.append(order)

    async with broker:
        await broker.start()
        meta = await broker.publish(Order(id=1, item="book", qty=2), topic)
        await eventually(lambda: len(received) == 1)

    assert received == [Order(id=1, item="book", qty=2)]
    assert isinstance(received[0], Order)
    assert meta.topic == topic
    assert meta.offset == 0


@pytest.mark.parametrize(
    ("annotation", "sent", "expected"),
    [
        (int, 42, 42),
        (float, 2.5, 2.5),
        (str, "hello", "hello"),
        (bytes, b"\x00\xffraw", b"\x00\xffraw"),
        (dict, {"a": [1, 2]}, {"a": [1, 2]}),
        (Point, Point(1, 2), Point(1, 2)),
    ],
    ids=["int", "float", "str", "bytes", "dict", "dataclass"],
)
async def test_typed_bodies(
    bootstrap: str, topic: str, annotation: Any, sent: Any, expected: Any
) -> None:
    broker = KafkaBroker(bootstrap)
    received: list[Any] = []

    async def handle(body: Any) -> None:
        received.append(body)

    handle.__annotations__ = {"body": annotation, "return": None}

    broker.subscriber(topic, auto_offset_reset="earliest")(handle)
    async with broker:
        await broker.start()
        await broker.publish(sent, topic)
        await eventually(lambda: len(received) == 1)

    assert received == [expected]
    assert type(received[0]) is type(expected)


async def test_same_key_always_lands_on_the_same_partition(
    bootstrap: str, topic: str, group: str, create_topic: Any
) -> None:
    await create_topic(topic, 6)
    broker = KafkaBroker(bootstrap)
    seen: dict[bytes, set[int]] = {}

    @broker.subscriber(topic, group_id=group, auto_offset_reset="earliest")
    async def handle(msg: KafkaMessage) -> None:
        assert msg.key is not None
        seen.setdefault(msg.key, set()).add(msg.partition)

    keys = [f"customer-{i}".encode() for i in range(12)]
    async with broker:
        await broker.start()
        published: dict[bytes, set[int]] = {}
        for round_ in range(5):
            for key in keys:
                meta = await broker.publish({"round": round_}, topic, key=key)
                published.setdefault(key, set()).add(meta.partition)
        await eventually(lambda: sum(map(len, seen.values())) >= 12 and len(seen) == 12)

    assert all(len(parts) == 1 for parts in published.values()), published
    assert seen == published
    # 12 keys over 6 partitions: hashing spreads them, it does not put all on one.
    assert len(set().union(*published.values())) > 1


async def test_headers_survive_the_round_trip(bootstrap: str, topic: str) -> None:
    broker = KafkaBroker(bootstrap)
    got: list[KafkaMessage] = []

    @broker.subscriber(topic, auto_offset_reset="earliest")
    async def handle(msg: KafkaMessage) -> None:
        got.append(msg)

    binary = b"\xff\x00\xfe"
    async with broker:
        await broker.start()
        await broker.publish(
            {"x": 1},
            topic,
            headers={"trace": "abc-123", "blob": binary, "text-bytes": b"plain"},
            correlation_id="corr-42",
            reply_to="replies",
        )
        await eventually(lambda: len(got) == 1)

    msg = got[0]
    assert msg.correlation_id == "corr-42"
    assert msg.reply_to == "replies"
    assert msg.content_type == "application/json"
    assert msg.headers["trace"] == "abc-123"
    assert msg.headers["blob"] == binary  # not valid UTF-8: stays bytes, unchanged
    assert msg.headers["text-bytes"] == "plain"  # UTF-8 bytes read back as text
    assert msg.headers["correlation_id"] == "corr-42"
    assert await msg.decode() == {"x": 1}


async def test_correlation_id_is_generated_when_not_given(bootstrap: str, topic: str) -> None:
    broker = KafkaBroker(bootstrap)
    async with broker:
        await broker.publish("a", topic)
        await broker.publish("b", topic)
    records = await read_all(bootstrap, topic, 2)
    ids = [dict(r.headers)["correlation_id"] for r in records]
    assert all(ids)
    assert ids[0] != ids[1]
    assert [dict(r.headers)["content-type"] for r in records] == [b"text/plain"] * 2


async def test_publisher_chain_delivers(bootstrap: str, topic: str) -> None:
    a, b, c = f"{topic}-a", f"{topic}-b", f"{topic}-c"
    broker = KafkaBroker(bootstrap)
    final: list[Order] = []
    trace: list[str] = []

    @broker.subscriber(a, auto_offset_reset="earliest")
    @broker.publisher(b)
    async def step_one(order: Order) -> Order:
        trace.append("a")
        return order.model_copy(update={"qty": order.qty * 10})

    @broker.publisher(c)  # the other decorator order works too
    @broker.subscriber(b, auto_offset_reset="earliest")
    async def step_two(order: Order) -> Order:
        trace.append("b")
        return order.model_copy(update={"item": order.item.upper()})

    @broker.subscriber(c, auto_offset_reset="earliest")
    async def step_three(order: Order, msg: KafkaMessage) -> None:
        trace.append(f"c:{msg.correlation_id}")
        final.append(order)

    async with broker:
        await broker.start()
        await broker.publish(Order(id=7, item="pen"), a, correlation_id="chain-1")
        await eventually(lambda: len(final) == 1)

    assert final == [Order(id=7, item="PEN", qty=10)]
    assert trace == ["a", "b", "c:chain-1"]  # the correlation id follows the chain


async def test_invalid_body_is_logged_and_the_next_message_is_handled(
    bootstrap: str, topic: str, group: str, caplog: pytest.LogCaptureFixture
) -> None:
    broker = KafkaBroker(bootstrap)
    received: list[Order] = []

    @broker.subscriber(topic, group_id=group, auto_offset_reset="earliest")
    async def handle(order: Order) -> None:
        received.append(order)

    caplog.set_level(logging.ERROR, logger="topicflow")
    async with broker:
        await broker.start()
        await broker.publish({"id": "not-a-number", "item": "x"}, topic)
        await broker.publish(Order(id=2, item="ok"), topic)
        await eventually(lambda: len(received) == 1)
        # Both are finished, so the committed position passes the poison message.
        await eventually(
            lambda: _offsets_equal(bootstrap, group, 2),
            timeout=10,
        )

    assert received == [Order(id=2, item="ok")]
    errors = [r for r in caplog.records if r.levelno == logging.ERROR and r.name == "topicflow"]
    assert len(errors) == 1, [r.getMessage() for r in errors]
    line = errors[0].getMessage()
    assert f"topic={topic}" in line
    assert "partition=0" in line
    assert "offset=0" in line
    assert "validation error" in line  # the pydantic error itself
    assert "Input should be a valid integer" in line


async def _offsets_equal(bootstrap: str, group: str, total: int) -> bool:
    return sum((await committed_offsets(bootstrap, group)).values()) == total


async def test_committed_offsets_add_up_and_a_restart_handles_nothing_twice(
    bootstrap: str, topic: str, group: str, create_topic: Any
) -> None:
    await create_topic(topic, 3)
    first_run: list[int] = []
    second_run: list[int] = []

    def make_broker(sink: list[int]) -> KafkaBroker:
        broker = KafkaBroker(bootstrap)

        @broker.subscriber(topic, group_id=group, auto_offset_reset="earliest")
        async def handle(n: int) -> None:
            sink.append(n)

        return broker

    broker = make_broker(first_run)
    async with broker:
        await broker.start()
        for n in range(30):
            await broker.publish(n, topic, key=str(n))
        await eventually(lambda: len(first_run) == 30)
    # stop() flushed the commits: the group's offsets add up to what was handled.
    offsets = await committed_offsets(bootstrap, group)
    assert sum(offsets.values()) == 30
    assert len(offsets) == 3

    broker = make_broker(second_run)
    async with broker:
        await broker.start()
        for n in range(30, 40):
            await broker.publish(n, topic, key=str(n))
        await eventually(lambda: len(second_run) == 10)
        await asyncio.sleep(0.5)  # room for a wrongly replayed message to show up

    assert sorted(first_run) == list(range(30))
    assert sorted(second_run) == list(range(30, 40))
    assert sum((await committed_offsets(bootstrap, group)).values()) == 40
