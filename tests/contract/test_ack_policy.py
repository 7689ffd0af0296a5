"""Contract: what each AckPolicy commits, and what a restarted group receives again.

Outcomes are observed the way an operator would: the group's committed offsets
on the cluster after the service stopped, and what a new instance of the
service (same group) receives.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest

from tests.contract.conftest import Backend
from tests.helpers import eventually
from topicflow import AckPolicy, NackMessage, RejectMessage
from topicflow.exceptions import StopConsume
from topicflow.kafka import KafkaMessage, TopicPartition


async def _restart_receives(backend: Backend, topic: str, group: str, publish: int) -> list[int]:
    """Start a fresh instance of the service in ``group``; publish ``publish``; return
    everything it handled (redelivered messages first)."""
    broker = backend.broker()
    got: list[int] = []

    @broker.subscriber(topic, group_id=group, auto_offset_reset="earliest")
    async def handle(n: int) -> None:
        got.append(n)

    async with backend.run(broker) as br:
        await br.publish(publish, topic)
    return got


@pytest.mark.parametrize(
    ("policy", "error"),
    [
        (AckPolicy.ACK, RuntimeError),
        (AckPolicy.ACK_FIRST, RuntimeError),
        (AckPolicy.REJECT_ON_ERROR, RuntimeError),
        (AckPolicy.NACK_ON_ERROR, RejectMessage),  # raising RejectMessage overrides the policy
    ],
    ids=["ack", "ack_first", "reject_on_error", "reject_message"],
)
async def test_a_failed_message_is_finished_and_not_delivered_again(
    backend: Backend, topic: str, group: str, policy: AckPolicy, error: type[Exception]
) -> None:
    broker = backend.broker()
    handled: list[int] = []

    @broker.subscriber(topic, group_id=group, auto_offset_reset="earliest", ack_policy=policy)
    async def handle(n: int) -> None:
        handled.append(n)
        if n == 1:
            raise error("fails once")

    async with backend.run(broker) as br:
        for n in range(3):
            # A handler's error is raised into the test's publish; RejectMessage decides.
            fails = n == 1 and error is RuntimeError
            with pytest.raises(error) if fails else contextlib.nullcontext():
                await br.publish(n, topic)

    assert handled == [0, 1, 2]
    assert await backend.committed(group) == {TopicPartition(topic, 0): 3}
    assert await _restart_receives(backend, topic, group, 3) == [3]


@pytest.mark.parametrize(
    ("policy", "committed"),
    [(AckPolicy.ACK_FIRST, {0: 1}), (AckPolicy.ACK, {})],
    ids=["ack_first", "ack"],
)
async def test_ack_first_commits_before_the_handler_ends(
    backend: Backend, topic: str, group: str, policy: AckPolicy, committed: dict[int, int]
) -> None:
    broker = backend.broker(graceful_timeout=0.3)
    started = asyncio.Event()

    @broker.subscriber(topic, group_id=group, auto_offset_reset="earliest", ack_policy=policy)
    async def stuck(n: int) -> None:
        started.set()
        await asyncio.Event().wait()  # never ends: stop() cancels it after graceful_timeout

    async with backend.run(broker) as br:
        await br.publish(0, topic, no_confirm=True)
        await asyncio.wait_for(started.wait(), 10)

    expected = {TopicPartition(topic, p): offset for p, offset in committed.items()}
    assert await backend.committed(group) == expected
    # At-most-once: ACK_FIRST lost the message; ACK delivers it again.
    assert await _restart_receives(backend, topic, group, 1) == ([1] if committed else [0, 1])


@pytest.mark.parametrize(
    ("policy", "error"),
    [(AckPolicy.NACK_ON_ERROR, RuntimeError), (AckPolicy.ACK, NackMessage)],
    ids=["nack_on_error", "nack_message"],
)
async def test_a_nacked_message_is_delivered_again(
    backend: Backend, topic: str, group: str, policy: AckPolicy, error: type[Exception]
) -> None:
    broker = backend.broker()
    sub = broker.subscriber(topic, group_id=group, auto_offset_reset="earliest", ack_policy=policy)
    attempts: list[int] = []

    @sub
    async def flaky(n: int) -> None:
        attempts.append(n)
        if attempts.count(n) == 1 and n == 0:
            raise error("not yet")

    async with backend.run(broker) as br:
        # The publish returns after the first attempt (raising its error, but for
        # NackMessage, which decides); the redelivery comes after a backoff.
        with pytest.raises(error) if error is RuntimeError else contextlib.nullcontext():
            await br.publish(0, topic)
        assert await sub.wait_call(10) == 0  # type: ignore[attr-defined]
        assert await sub.wait_call(10) == 0  # type: ignore[attr-defined]
        await br.publish(1, topic)

    assert attempts == [0, 0, 1]
    assert await backend.committed(group) == {TopicPartition(topic, 0): 2}


async def test_manual_commits_up_to_the_first_unfinished_message(
    backend: Backend, topic: str, group: str
) -> None:
    broker = backend.broker()
    decisions: dict[int, Any] = {0: KafkaMessage.ack, 1: KafkaMessage.reject}

    @broker.subscriber(
        topic, group_id=group, auto_offset_reset="earliest", ack_policy=AckPolicy.MANUAL
    )
    async def decide(n: int, msg: KafkaMessage) -> None:
        decision = decisions.get(n)
        if decision is not None:
            await decision(msg)
        # 2 is left unfinished: neither acked nor rejected.

    async with backend.run(broker) as br:
        for n in range(3):
            await br.publish(n, topic)

    assert await backend.committed(group) == {TopicPartition(topic, 0): 2}
    assert await _restart_receives(backend, topic, group, 3) == [2, 3]
    assert await backend.committed(group) == {TopicPartition(topic, 0): 4}


async def test_stop_consume_finishes_its_message_and_stops_the_subscriber(
    backend: Backend, topic: str, group: str
) -> None:
    broker = backend.broker()
    handled: list[int] = []
    sub = broker.subscriber(topic, group_id=group, auto_offset_reset="earliest")

    @sub
    async def handle(n: int) -> None:
        handled.append(n)
        if n == 1:
            raise StopConsume

    async with backend.run(broker) as br:
        await br.publish(0, topic)
        with pytest.raises(StopConsume):  # raised into the test's publish, as in FastStream
            await br.publish(1, topic)

        async def stopped() -> bool:
            return not sub.running

        await eventually(stopped, timeout=10)
        await br.publish(2, topic)
        await asyncio.sleep(0.3)
        assert handled == [0, 1]  # nothing after the StopConsume
    assert await backend.committed(group) == {TopicPartition(topic, 0): 2}
    assert await _restart_receives(backend, topic, group, 3) == [2, 3]
