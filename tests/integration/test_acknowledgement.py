"""AckPolicy against the real Kafka: what is committed, and what comes back."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from typing import Any

import pytest
from pydantic import BaseModel

from tests.helpers import committed_offsets, eventually
from topicflow import AckPolicy, NackMessage, RejectMessage
from topicflow.kafka import Backoff, KafkaBroker, KafkaMessage

pytestmark = pytest.mark.kafka


class Item(BaseModel):
    n: int


def _names() -> tuple[str, str]:
    tag = uuid.uuid4().hex[:10]
    return f"ack-{tag}", f"g-{tag}"


async def _policy_case(bootstrap: str, policy: AckPolicy, fail: bool) -> tuple[int, bool]:
    """Handle one message under ``policy``; return (committed offset, came back after restart)."""
    topic, group = _names()
    first = KafkaBroker(bootstrap, ack_policy=policy, nack_backoff=Backoff(0.2, 2, 0.2))
    calls: list[str] = []

    @first.subscriber(topic, group_id=group, auto_offset_reset="earliest")
    async def handle(body: str) -> None:
        calls.append(body)
        if fail:
            raise RuntimeError("handler failed")

    async with first:
        await first.start()
        await first.publish("m0", topic)
        await eventually(lambda: len(calls) >= 1)
        await asyncio.sleep(0.3)  # lets NACK_ON_ERROR show its redelivery within the run
    committed = sum((await committed_offsets(bootstrap, group)).values())

    second = KafkaBroker(bootstrap)
    seen: list[str] = []

    @second.subscriber(topic, group_id=group, auto_offset_reset="earliest")
    async def after_restart(body: str) -> None:
        seen.append(body)

    async with second:
        await second.start()
        await second.publish("sentinel", topic)  # same partition: anything replayed comes first
        await eventually(lambda: "sentinel" in seen)
    return committed, "m0" in seen


EXPECTED = {
    # policy: {outcome: (committed offset, delivered again after a restart)}
    AckPolicy.ACK_FIRST: {"success": (1, False), "error": (1, False)},
    AckPolicy.ACK: {"success": (1, False), "error": (1, False)},
    AckPolicy.REJECT_ON_ERROR: {"success": (1, False), "error": (1, False)},
    AckPolicy.NACK_ON_ERROR: {"success": (1, False), "error": (0, True)},
    AckPolicy.MANUAL: {"success": (0, True), "error": (0, True)},
}


async def test_ack_policy_table(bootstrap: str, capsys: pytest.CaptureFixture[str]) -> None:
    cases = [(policy, outcome) for policy in EXPECTED for outcome in ("success", "error")]
    results = await asyncio.gather(
        *(_policy_case(bootstrap, policy, outcome == "error") for policy, outcome in cases)
    )
    table = dict(zip(cases, results, strict=True))
    with capsys.disabled():
        print("\n| policy | handler | committed offset | redelivered after restart |")
        print("|---|---|---|---|")
        for (policy, outcome), (committed, again) in table.items():
            print(f"| {policy.name} | {outcome} | {committed} | {'yes' if again else 'no'} |")
    for (policy, outcome), result in table.items():
        assert result == EXPECTED[policy][outcome], (policy, outcome, result)


async def test_exceptions_override_the_policy(bootstrap: str) -> None:
    topic, group = _names()
    broker = KafkaBroker(bootstrap, nack_backoff=Backoff(0.05, 1, 0.05))
    deliveries: list[int] = []

    @broker.subscriber(topic, group_id=group, auto_offset_reset="earliest")
    async def handle(n: int) -> None:
        deliveries.append(n)
        if n == 0 and deliveries.count(0) == 1:
            raise NackMessage  # under ACK: delivered again anyway
        if n == 1:
            raise RejectMessage  # finished, not logged as an error, not delivered again

    async with broker:
        await broker.start()
        await broker.publish(0, topic)
        await broker.publish(1, topic)
        await broker.publish(2, topic)
        await eventually(lambda: 2 in deliveries)
    assert deliveries == [0, 0, 1, 2]
    assert sum((await committed_offsets(bootstrap, group)).values()) == 3


async def test_manual_unacked_message_holds_the_committed_offset(bootstrap: str) -> None:
    topic, group = _names()
    broker = KafkaBroker(bootstrap, ack_policy=AckPolicy.MANUAL)
    handled: list[int] = []

    @broker.subscriber(topic, group_id=group, auto_offset_reset="earliest")
    async def handle(n: int, msg: KafkaMessage) -> None:
        handled.append(n)
        if n != 5:
            await msg.ack()

    async with broker:
        await broker.start()
        for n in range(11):
            await broker.publish(n, topic)
        await eventually(lambda: len(handled) == 11)
    assert sum((await committed_offsets(bootstrap, group)).values()) == 5

    again: list[int] = []
    restarted = KafkaBroker(bootstrap, ack_policy=AckPolicy.MANUAL)

    @restarted.subscriber(topic, group_id=group, auto_offset_reset="earliest")
    async def handle_again(n: int, msg: KafkaMessage) -> None:
        again.append(n)
        await msg.ack()

    async with restarted:
        await restarted.start()
        await eventually(lambda: len(again) == 6)
    assert again == [5, 6, 7, 8, 9, 10]
    assert sum((await committed_offsets(bootstrap, group)).values()) == 11


async def test_manual_ack_after_the_handler_returned(bootstrap: str) -> None:
    topic, group = _names()
    broker = KafkaBroker(bootstrap, ack_policy=AckPolicy.MANUAL)
    kept: list[KafkaMessage] = []

    @broker.subscriber(topic, group_id=group, auto_offset_reset="earliest")
    async def handle(msg: KafkaMessage) -> None:
        kept.append(msg)  # acked later, e.g. once some other work is done

    async with broker:
        await broker.start()
        await broker.publish("a", topic)
        await broker.publish("b", topic)
        await eventually(lambda: len(kept) == 2)
        await kept[1].ack()
        await kept[0].reject()
        await broker.stop()
    assert sum((await committed_offsets(bootstrap, group)).values()) == 2


async def test_nack_redelivers_with_growing_backoff_while_other_partitions_flow(
    bootstrap: str, create_topic: Any
) -> None:
    topic, group = _names()
    await create_topic(topic, 2)
    broker = KafkaBroker(
        bootstrap, ack_policy=AckPolicy.NACK_ON_ERROR, nack_backoff=Backoff(0.6, 2.0, 5.0)
    )
    attempts: list[float] = []
    flowing: list[float] = []

    @broker.subscriber(topic, group_id=group, auto_offset_reset="earliest")
    async def handle(body: str, msg: KafkaMessage) -> None:
        if body == "flaky":
            attempts.append(time.monotonic())
            if len(attempts) < 3:
                raise RuntimeError(f"attempt {len(attempts)} fails")
        else:
            flowing.append(time.monotonic())

    async with broker:
        await broker.start()
        await broker.publish("flaky", topic, partition=0)
        await eventually(lambda: len(attempts) == 1)
        for n in range(20):  # partition 1 keeps going during partition 0's backoff
            await broker.publish(f"other-{n}", topic, partition=1)
            await asyncio.sleep(0.05)
        await eventually(lambda: len(attempts) == 3 and len(flowing) == 20)

    first_gap, second_gap = attempts[1] - attempts[0], attempts[2] - attempts[1]
    during_backoff = [t for t in flowing if attempts[0] < t < attempts[2]]
    print(
        f"\nNACK: gaps {first_gap:.2f}s then {second_gap:.2f}s; "
        f"{len(during_backoff)} of 20 partition-1 messages handled during the backoff"
    )
    assert len(attempts) == 3  # handled on the third delivery, and not again
    assert first_gap >= 0.6
    assert second_gap >= 1.2
    assert second_gap > first_gap  # the backoff grows
    assert len(during_backoff) >= 10
    assert sum((await committed_offsets(bootstrap, group)).values()) == 21


POLICIES = list(AckPolicy)


async def _poison_case(bootstrap: str, policy: AckPolicy) -> tuple[list[Any], list[str]]:
    text_topic, group = _names()
    model_topic = f"{text_topic}-m"
    broker = KafkaBroker(bootstrap, ack_policy=policy, nack_backoff=Backoff(0.05, 1, 0.05))
    called: list[Any] = []

    @broker.subscriber(text_topic, group_id=group, auto_offset_reset="earliest")
    async def on_text(body: str, msg: KafkaMessage) -> None:
        called.append(body)
        await msg.ack()

    @broker.subscriber(model_topic, group_id=group, auto_offset_reset="earliest")
    async def on_item(item: Item, msg: KafkaMessage) -> None:
        called.append(item)
        await msg.ack()

    async with broker:
        await broker.start()
        await broker.publish(b"\xff\xfe not utf-8", text_topic)
        await broker.publish("fine", text_topic)
        await broker.publish(b'{"n": 1', model_topic, headers={"content-type": "application/json"})
        await broker.publish({"n": "NaN-ish"}, model_topic)
        await broker.publish(Item(n=3), model_topic)
        await eventually(lambda: len(called) == 2)
        await asyncio.sleep(0.3)  # a wrongly redelivered poison message would show up now
    return called, [text_topic, model_topic]


@pytest.mark.parametrize("policy", POLICIES, ids=[p.name for p in POLICIES])
async def test_poison_is_logged_once_and_skipped(
    bootstrap: str, policy: AckPolicy, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="topicflow")
    called, (text_topic, model_topic) = await _poison_case(bootstrap, policy)

    assert sorted(map(repr, called)) == sorted(map(repr, ["fine", Item(n=3)]))  # no poison
    lines = [r.getMessage() for r in caplog.records if r.name == "topicflow"]
    assert len(lines) == 3, lines
    text_lines = [line for line in lines if f"topic={text_topic} " in line]
    assert len(text_lines) == 1
    assert "partition=0 offset=0" in text_lines[0]
    assert "not valid UTF-8" in text_lines[0]
    model_lines = sorted(line for line in lines if f"topic={model_topic} " in line)
    assert "offset=0" in model_lines[0]
    assert "Invalid JSON" in model_lines[0] or "json_invalid" in model_lines[0]
    assert "offset=1" in model_lines[1]
    assert "valid integer" in model_lines[1]
