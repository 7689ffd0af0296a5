"""Contract: publishing, consuming, groups, partitions, headers, chains and mocks."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

import pytest
from pydantic import BaseModel

from tests.contract.conftest import Backend
from topicflow.kafka import KafkaMessage
from topicflow.kafka._memory import partition_for_key


class Order(BaseModel):
    id: int
    item: str
    qty: int = 1


async def test_publish_returns_metadata_the_handler_sees(backend: Backend, topic: str) -> None:
    broker = backend.broker()
    got: list[KafkaMessage] = []

    @broker.subscriber(topic, auto_offset_reset="earliest")
    async def handle(msg: KafkaMessage) -> None:
        got.append(msg)

    base = time.time_ns() // 1_000_000 - 60_000
    async with backend.run(broker) as br:
        metas = [await br.publish({"n": n}, topic, timestamp_ms=base + n) for n in range(3)]
        # The publish waited for the handler: no polling needed.
        assert len(got) == 3

    assert [(m.topic, m.partition, m.offset) for m in metas] == [(topic, 0, n) for n in range(3)]
    assert [m.timestamp for m in metas] == [base, base + 1, base + 2]
    assert [(g.topic, g.partition, g.offset, g.timestamp) for g in got] == [
        (topic, 0, n, base + n) for n in range(3)
    ]
    assert [await g.decode() for g in got] == [{"n": 0}, {"n": 1}, {"n": 2}]


async def test_a_key_chooses_its_partition_by_murmur2(
    backend: Backend, topic: str, group: str
) -> None:
    await backend.create_topic(topic, 3)
    broker = backend.broker()
    seen: dict[bytes, set[int]] = {}

    @broker.subscriber(topic, group_id=group, auto_offset_reset="earliest")
    async def handle(msg: KafkaMessage) -> None:
        assert msg.key is not None
        seen.setdefault(msg.key, set()).add(msg.partition)

    keys = [f"customer-{n}" for n in range(8)]
    async with backend.run(broker) as br:
        for _ in range(2):
            for key in keys:
                meta = await br.publish({"k": key}, topic, key=key)
                assert meta.partition == partition_for_key(key.encode(), 3)

    assert seen == {key.encode(): {partition_for_key(key.encode(), 3)} for key in keys}


async def test_headers_survive_the_round_trip(backend: Backend, topic: str) -> None:
    broker = backend.broker()
    got: list[KafkaMessage] = []

    @broker.subscriber(topic, auto_offset_reset="earliest")
    async def handle(msg: KafkaMessage) -> None:
        got.append(msg)

    async with backend.run(broker) as br:
        await br.publish(
            {"x": 1},
            topic,
            headers={"trace": "abc-123", "blob": b"\xff\x00\xfe"},
            correlation_id="corr-42",
            reply_to="replies",
        )
        await br.publish("text", topic)
        await br.publish(b"\x00raw", topic)

    first, text, raw = got
    assert first.correlation_id == "corr-42"
    assert first.reply_to == "replies"
    assert first.headers["trace"] == "abc-123"
    assert first.headers["blob"] == b"\xff\x00\xfe"
    assert [m.content_type for m in got] == ["application/json", "text/plain", None]
    assert text.correlation_id != raw.correlation_id  # generated, one per record
    assert (await text.decode(), await raw.decode()) == ("text", b"\x00raw")


async def test_each_group_gets_each_message_once_and_two_groups_both_get_it(
    backend: Backend, topic: str, group: str
) -> None:
    await backend.create_topic(topic, 2)
    broker = backend.broker()
    members: list[list[tuple[int, str]]] = [[], []]
    other_group: list[str] = []
    # Rebalances on a real cluster wait for each member's next heartbeat.
    fast = {"heartbeat_interval_ms": 100, "auto_offset_reset": "earliest"}

    def member(sink: list[tuple[int, str]]) -> Callable[..., Awaitable[None]]:
        async def handle(body: str, msg: KafkaMessage) -> None:
            sink.append((msg.partition, body))

        return handle

    for sink in members:
        broker.subscriber(topic, group_id=f"{group}-a", **fast)(member(sink))

    @broker.subscriber(topic, group_id=f"{group}-b", **fast)
    async def other(body: str) -> None:
        other_group.append(body)

    keys = [f"k{n}" for n in range(6)]
    assert {partition_for_key(k.encode(), 2) for k in keys} == {0, 1}
    async with backend.run(broker) as br:
        for key in keys:
            await br.publish(key, topic, key=key)

    first, second = members
    assert sorted(body for _, body in first + second) == keys  # once within the group
    assert sorted(other_group) == keys  # and once for the other group
    # The two members of one group split its two partitions.
    assert len({p for p, _ in first}) == len({p for p, _ in second}) == 1
    assert {p for p, _ in first} != {p for p, _ in second}


async def test_latest_gets_what_is_published_after_start(
    backend: Backend, topic: str, group: str
) -> None:
    broker = backend.broker()
    sub = broker.subscriber(topic, group_id=group, auto_offset_reset="latest")

    @sub
    async def handle(body: str) -> None:
        return None

    async with backend.run(broker) as br:
        await br.publish("after start", topic, no_confirm=True)
        assert await sub.wait_call(5) == "after start"  # type: ignore[attr-defined]


async def test_a_publisher_chain_delivers_with_the_correlation_id(
    backend: Backend, topic: str
) -> None:
    a, b, c = f"{topic}-a", f"{topic}-b", f"{topic}-c"
    broker = backend.broker()
    to_b = broker.publisher(b)
    to_c = broker.publisher(c)
    last = broker.subscriber(c, auto_offset_reset="earliest")
    trace: list[str] = []

    @broker.subscriber(a, auto_offset_reset="earliest")
    @to_b
    async def step_one(order: Order) -> Order:
        trace.append("a")
        return order.model_copy(update={"qty": order.qty * 10})

    @to_c
    @broker.subscriber(b, auto_offset_reset="earliest")
    async def step_two(order: Order) -> Order:
        trace.append("b")
        return order.model_copy(update={"item": order.item.upper()})

    @last
    async def step_three(order: Order, msg: KafkaMessage) -> None:
        trace.append(f"c:{msg.correlation_id}")

    async with backend.run(broker) as br:
        await br.publish(Order(id=7, item="pen"), a, correlation_id="chain-1")
        # The publish returned once the whole chain was handled.
        assert trace == ["a", "b", "c:chain-1"]
        last.mock.assert_called_once_with({"id": 7, "item": "PEN", "qty": 10})  # type: ignore[attr-defined]
        to_b.mock.assert_called_once_with({"id": 7, "item": "pen", "qty": 10})  # type: ignore[attr-defined]
        to_c.mock.assert_called_once_with({"id": 7, "item": "PEN", "qty": 10})  # type: ignore[attr-defined]


async def test_a_handler_publishing_to_its_own_topic_completes(
    backend: Backend, topic: str
) -> None:
    broker = backend.broker()
    seen: list[int] = []

    @broker.subscriber(topic, auto_offset_reset="earliest")
    async def count(n: int) -> None:
        seen.append(n)
        if n < 3:
            await broker.publish(n + 1, topic)

    async with backend.run(broker) as br:
        await br.publish(1, topic)
        assert seen == [1, 2, 3]


async def test_mocks_and_wait_call(backend: Backend, topic: str) -> None:
    broker = backend.broker()
    sub = broker.subscriber(topic, auto_offset_reset="earliest")

    @sub
    async def handle(order: Order) -> None:
        return None

    async with backend.run(broker) as br:
        await br.publish(Order(id=1, item="book"), topic, no_confirm=True)
        assert await sub.wait_call(10) == {"id": 1, "item": "book", "qty": 1}  # type: ignore[attr-defined]
        sub.mock.assert_called_once_with({"id": 1, "item": "book", "qty": 1})  # type: ignore[attr-defined]
    assert not hasattr(sub, "mock")


async def test_handler_errors_are_logged_and_raised_into_the_publish(
    backend: Backend, topic: str, caplog: pytest.LogCaptureFixture
) -> None:
    broker = backend.broker()

    @broker.subscriber(topic, auto_offset_reset="earliest")
    async def broken(n: int) -> None:
        raise RuntimeError(f"cannot handle {n}")

    caplog.set_level(logging.ERROR, logger="topicflow")
    async with backend.run(broker) as br:
        with pytest.raises(RuntimeError, match="cannot handle 5"):
            await br.publish(5, topic)
    errors = [r.getMessage() for r in caplog.records if r.name == "topicflow"]
    assert len(errors) == 1
    assert f"{topic}-0-0" in errors[0]  # the message id: topic, partition, offset
    assert "cannot handle 5" in errors[0]
