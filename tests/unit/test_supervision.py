"""Supervised background tasks: restarted with backoff, given up after too many crashes,
and a crash in the middle of a batch loses nothing."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from tests.helpers import eventually
from topicflow._tasks import Backoff, Supervision, TaskGroup
from topicflow.kafka import KafkaBroker, KafkaMessage, TopicPartition
from topicflow.kafka._memory import MemoryKafka, MemoryTransport

FAST = Backoff(0.01, 2.0, 0.05)


async def test_a_crashing_task_is_restarted_after_its_recovery() -> None:
    runs: list[str] = []

    async def flaky() -> None:
        runs.append("run")
        if len([r for r in runs if r == "run"]) < 3:
            raise RuntimeError("boom")

    def recover() -> None:
        runs.append("recover")

    group = TaskGroup("owner", Supervision(max_restarts=5, backoff=FAST), None)
    await asyncio.wait_for(group.spawn("flaky", flaky, recover=recover), 2)
    assert runs == ["run", "recover", "run", "recover", "run"]
    assert group.healthy
    assert group.failure is None


async def test_a_task_crashing_too_often_is_given_up_with_a_reason(
    caplog: pytest.LogCaptureFixture,
) -> None:
    reasons: list[tuple[str, BaseException]] = []

    async def broken() -> None:
        raise ValueError("always")

    group = TaskGroup(
        "<sub>", Supervision(max_restarts=2, backoff=FAST), logging.getLogger("t"), _append(reasons)
    )
    caplog.set_level(logging.ERROR, logger="t")
    await asyncio.wait_for(group.spawn("fetch", broken), 2)
    [(reason, exc)] = reasons
    assert reason == (
        "<sub>: its fetch task crashed 3 times within 60s and was given up; "
        "last error: ValueError: always"
    )
    assert isinstance(exc, ValueError)
    assert not group.healthy
    assert group.failure == reason
    levels = [r.levelno for r in caplog.records]
    assert levels == [logging.ERROR, logging.ERROR, logging.CRITICAL]


async def test_stop_gives_up_waiting_on_a_task_that_ignores_cancellation() -> None:
    release = asyncio.Event()

    async def stubborn() -> None:
        while not release.is_set():
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                continue  # ignores the cancellation, as a stuck client call can

    group = TaskGroup("owner", Supervision(), None)
    task = group.spawn("stuck", stubborn)
    await asyncio.sleep(0)
    assert await asyncio.wait_for(group.stop(0.1), 1) == ["stuck"]
    release.set()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


def _append(into: list[Any]) -> Any:
    def record(reason: str, exc: BaseException) -> None:
        into.append((reason, exc))

    return record


class _CrashOnce:
    """An observer (the public hook): the in-memory Kafka, and one crash of the
    consume path at a chosen offset, as an unexpected error in the framework would."""

    def __init__(self, memory: MemoryKafka, offset: int) -> None:
        self.memory = memory
        self.offset = offset
        self.crashed = False

    def transport(self, default: Any) -> Any:
        return MemoryTransport(self.memory)

    def pipeline(self, subscriber: Any, consumer: Any, pipeline: Any) -> Any:
        async def crashing(msg: KafkaMessage) -> Any:
            if msg.offset == self.offset and not self.crashed:
                self.crashed = True
                raise RuntimeError("a bug in the consume path")
            return await pipeline(msg)

        return crashing


async def test_a_fetch_task_crash_mid_batch_loses_nothing() -> None:
    memory = MemoryKafka()
    broker = KafkaBroker("memory:1", supervision=Supervision(backoff=FAST))
    observer = _CrashOnce(memory, offset=3)
    broker.observe(observer)
    handled: list[int] = []

    @broker.subscriber("t", group_id="g", auto_offset_reset="earliest")
    async def handle(n: int) -> None:
        handled.append(n)

    async with broker:
        for n in range(6):
            await broker.publish(n, "t")
        await broker.start()
        await eventually(lambda: len(handled) == 6, timeout=5)
    assert observer.crashed
    assert handled == [0, 1, 2, 3, 4, 5]  # 3 was read again after the restart, once
    assert memory.committed("g") == {TopicPartition("t", 0): 6}
