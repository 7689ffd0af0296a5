"""Contract: retry= and dead_letter= (issue 18), on the in-memory and the real broker.

A failed message waits on retry topics without holding its partition, is handed
to the handler again no earlier than each delay, and ends on the dead-letter
topic with headers that say where it came from and why; the original offset is
committed while its retries wait.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from tests.contract.conftest import Backend
from tests.helpers import eventually
from topicflow import NackMessage, RejectMessage
from topicflow.kafka import KafkaMessage, Retry, Topic, TopicPartition

pytestmark = pytest.mark.timeout(60)

DELAYS = (0.3, 0.6)


def _dead_letters(broker: Any, dlq: str, group: str) -> list[KafkaMessage]:
    got: list[KafkaMessage] = []

    @broker.subscriber(dlq, group_id=f"{group}-ops", auto_offset_reset="earliest")
    async def dead(msg: KafkaMessage) -> None:
        got.append(msg)

    return got


async def test_an_always_failing_message_is_retried_after_each_delay_then_dead_lettered(
    backend: Backend, topic: str, group: str
) -> None:
    broker = backend.broker(logger=None)
    dlq = f"{topic}.dlq"
    handled: list[tuple[str, str, float]] = []

    @broker.subscriber(
        Topic(topic),
        group_id=group,
        auto_offset_reset="earliest",
        retry=Retry(delays=DELAYS),
        dead_letter=dlq,
    )
    async def bill(body: str, msg: KafkaMessage) -> None:
        handled.append((body, msg.topic, time.time()))
        if body == "bad":
            raise ValueError("no such customer " + "x" * 5000)

    dead = _dead_letters(broker, dlq, group)
    async with backend.run(broker) as br:
        # One batch: "good" is the record right after "bad" on the same partition.
        await br.publish_batch("bad", "good", topic=topic, headers={"tenant": "t1"}, key=b"k")
        await eventually(lambda: len(dead) == 1, timeout=20)
        await asyncio.sleep(0.5)  # nothing more comes

    bad = [(where, at) for body, where, at in handled if body == "bad"]
    assert [where for where, _ in bad] == [
        topic,
        f"{topic}.{group}.retry-1",
        f"{topic}.{group}.retry-2",
    ]
    for (_, before), (_, after), delay in zip(bad, bad[1:], DELAYS, strict=False):
        assert after - before >= delay, (after - before, delay)
    # The good message behind it did not wait for the first retry.
    assert [body for body, _, _ in handled][:3] == ["bad", "good", "bad"]
    (record,) = dead
    headers = record.headers
    assert record.body == b"bad"
    assert record.key == b"k"
    assert headers["tenant"] == "t1"
    assert headers["topicflow-original-topic"] == topic
    assert headers["topicflow-original-partition"] == "0"
    assert headers["topicflow-original-offset"] == "0"
    assert headers["topicflow-attempts"] == "3"
    assert headers["topicflow-exception-type"] == "ValueError"
    message = headers["topicflow-exception-message"]
    assert isinstance(message, str)
    assert message.startswith("no such customer xxx")
    assert len(message) <= 1000
    assert "topicflow-retry-due" not in headers


async def test_a_message_failing_once_is_handled_twice_and_not_dead_lettered(
    backend: Backend, topic: str, group: str
) -> None:
    broker = backend.broker(logger=None)
    dlq = f"{topic}.dlq"
    handled: list[str] = []

    @broker.subscriber(
        Topic(topic), group_id=group, auto_offset_reset="earliest",
        retry=Retry(delays=(0.2, 0.2)), dead_letter=dlq,
    )  # fmt: skip
    async def bill(msg: KafkaMessage) -> None:
        handled.append(msg.topic)
        if len(handled) == 1:
            raise RuntimeError("flaky")

    dead = _dead_letters(broker, dlq, group)
    async with backend.run(broker) as br:
        await br.publish("once", topic)
        await eventually(lambda: len(handled) == 2)
        await asyncio.sleep(0.6)

    assert handled == [topic, f"{topic}.{group}.retry-1"]
    assert dead == []


async def test_the_main_offset_is_committed_while_retries_wait(
    backend: Backend, topic: str, group: str
) -> None:
    broker = backend.broker(logger=None)
    handled: list[str] = []

    @broker.subscriber(
        Topic(topic), group_id=group, auto_offset_reset="earliest",
        auto_commit_interval_ms=100, retry=Retry(delays=(3.0,)),
    )  # fmt: skip
    async def bill(body: str) -> None:
        handled.append(body)
        raise ValueError(body)

    async with backend.run(broker) as br:
        publishing = asyncio.ensure_future(br.publish_batch("a", "b", "c", topic=topic))
        try:

            async def committed_to_the_end() -> bool:
                offsets = await backend.committed(group)
                return offsets.get(TopicPartition(topic, 0)) == 3

            await eventually(committed_to_the_end, timeout=2.5)
            assert handled == ["a", "b", "c"]  # their retries are still waiting
        finally:
            publishing.cancel()


async def test_dead_letter_alone_and_poison_go_to_the_dead_letter_topic_at_once(
    backend: Backend, topic: str, group: str
) -> None:
    broker = backend.broker(logger=None)
    dlq = f"{topic}.dlq"
    handled: list[int] = []

    @broker.subscriber(
        Topic(topic), group_id=group, auto_offset_reset="earliest",
        retry=Retry(delays=(0.2,)), dead_letter=dlq,
    )  # fmt: skip
    async def count(n: int) -> None:
        handled.append(n)

    @broker.subscriber(f"{topic}-2", group_id=group, auto_offset_reset="earliest", dead_letter=dlq)
    async def refuse(body: str) -> None:
        raise KeyError(body)

    dead = _dead_letters(broker, dlq, group)
    async with backend.run(broker) as br:
        await br.publish(b"not a number", topic)  # poison: not retried
        await br.publish("nope", f"{topic}-2")
        await eventually(lambda: len(dead) == 2, timeout=20)
        await asyncio.sleep(0.5)

    assert handled == []
    by_origin = {m.headers["topicflow-original-topic"]: m.headers for m in dead}
    assert by_origin[topic]["topicflow-attempts"] == "1"
    assert by_origin[topic]["topicflow-exception-type"] == "DecodeError"
    assert by_origin[f"{topic}-2"]["topicflow-attempts"] == "1"
    assert by_origin[f"{topic}-2"]["topicflow-exception-type"] == "KeyError"


async def test_decisions_keep_their_meaning(backend: Backend, topic: str, group: str) -> None:
    broker = backend.broker(logger=None)
    dlq = f"{topic}.dlq"
    handled: list[tuple[str, str]] = []

    @broker.subscriber(
        Topic(topic), group_id=group, auto_offset_reset="earliest",
        retry=Retry(delays=(0.2,)), dead_letter=dlq,
    )  # fmt: skip
    async def decide(body: str, msg: KafkaMessage) -> None:
        handled.append((body, msg.topic))
        if body == "nack" and len([b for b, _ in handled if b == "nack"]) == 1:
            raise NackMessage()  # redelivered in place, not retried on a retry topic
        if body == "reject":
            raise RejectMessage()  # finished: neither retried nor dead-lettered

    dead = _dead_letters(broker, dlq, group)
    async with backend.run(broker) as br:
        await br.publish_batch("nack", "reject", topic=topic)
        await eventually(lambda: len(handled) == 3)
        await asyncio.sleep(0.6)

    assert handled == [("nack", topic), ("nack", topic), ("reject", topic)]
    assert dead == []


async def test_blocking_retries_keep_order_then_dead_letter(
    backend: Backend, topic: str, group: str
) -> None:
    broker = backend.broker(logger=None)
    dlq = f"{topic}.dlq"
    handled: list[tuple[str, float]] = []

    @broker.subscriber(
        Topic(topic), group_id=group, auto_offset_reset="earliest",
        retry=Retry(delays=(0.2, 0.4), blocking=True), dead_letter=dlq,
    )  # fmt: skip
    async def bill(body: str) -> None:
        handled.append((body, time.time()))
        if body == "bad":
            raise ValueError(body)

    dead = _dead_letters(broker, dlq, group)
    async with backend.run(broker) as br:
        await br.publish_batch("bad", "good", topic=topic)
        await eventually(lambda: len(dead) == 1 and len(handled) == 4, timeout=20)

    assert [body for body, _ in handled] == ["bad", "bad", "bad", "good"]
    times = [at for _, at in handled]
    assert times[1] - times[0] >= 0.2
    assert times[2] - times[1] >= 0.4
    assert dead[0].headers["topicflow-attempts"] == "3"
    assert dead[0].headers["topicflow-original-topic"] == topic


async def test_the_concurrent_kind_retries_too(backend: Backend, topic: str, group: str) -> None:
    broker = backend.broker(logger=None)
    dlq = f"{topic}.dlq"
    handled: list[str] = []

    @broker.subscriber(
        Topic(topic, num_partitions=2), group_id=group, max_workers=2,
        auto_offset_reset="earliest", retry=Retry(delays=(0.2,)), dead_letter=dlq,
    )  # fmt: skip
    async def bill(msg: KafkaMessage) -> None:
        handled.append(msg.topic)
        raise ValueError("always")

    dead = _dead_letters(broker, dlq, group)
    async with backend.run(broker) as br:
        await br.publish("x", topic, partition=1)
        await eventually(lambda: len(dead) == 1, timeout=20)

    assert handled == [topic, f"{topic}.{group}.retry-1"]
    assert dead[0].headers["topicflow-original-partition"] == "1"
    assert dead[0].headers["topicflow-attempts"] == "2"


async def test_a_retry_pending_at_a_restart_is_not_skipped(
    backend: Backend, topic: str, group: str
) -> None:
    """The default auto_offset_reset="latest" does not apply to retry topics: a retry
    written before the restart, never committed by the retry consumer, still runs."""
    dlq = f"{topic}.dlq"
    handled: list[str] = []

    def service(reset: Any) -> Any:
        broker = backend.broker(logger=None)

        @broker.subscriber(
            Topic(topic), group_id=group, retry=Retry(delays=(1.0,)), dead_letter=dlq,
            auto_offset_reset=reset,
        )  # fmt: skip
        async def bill(msg: KafkaMessage) -> None:
            handled.append(msg.topic)
            raise ValueError("always")

        return broker

    # The first run reads its topic from the start (a record published as a real
    # consumer starts may land before "latest" is resolved); the second, which finds
    # the main topic committed, runs with the default "latest".
    first = service("earliest")
    async with backend.run(first) as br:
        publishing = asyncio.ensure_future(br.publish("x", topic))
        await eventually(lambda: handled == [topic])
        publishing.cancel()
    second = service("latest")
    dead = _dead_letters(second, dlq, group)
    async with backend.run(second):
        await eventually(lambda: len(dead) == 1, timeout=30)
    assert handled == [topic, f"{topic}.{group}.retry-1"]
