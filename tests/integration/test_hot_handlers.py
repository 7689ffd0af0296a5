"""Handlers that never await: commits and heartbeats go on, and the handler is named."""

from __future__ import annotations

import asyncio
import logging
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from tests.helpers import committed_offsets, eventually
from topicflow.kafka import KafkaBroker

pytestmark = pytest.mark.kafka

# 1 ms of CPU per message, never awaiting: the loop gets no turn from the handler.
SERVICE = """
import time
from topicflow import App
from topicflow.kafka import KafkaBroker

broker = KafkaBroker({bootstrap!r})
app = App(broker)
out = open({out!r}, "a", buffering=1)

@broker.subscriber(
    {topic!r}, group_id={group!r}, auto_offset_reset="earliest", auto_commit_interval_ms=300
)
async def handle(n: int) -> None:
    until = time.perf_counter() + 0.001
    while time.perf_counter() < until:
        pass
    out.write(f"{{n}}\\n")
"""


def _lines(path: Path) -> int:
    return path.read_text().count("\n") if path.exists() else 0


async def test_a_handler_that_never_awaits_still_commits_as_it_goes(
    bootstrap: str, topic: str, group: str, tmp_path: Path
) -> None:
    total = 4000  # about 4 s of handling
    out = tmp_path / "handled.txt"
    (tmp_path / "service.py").write_text(
        textwrap.dedent(SERVICE).format(bootstrap=bootstrap, out=str(out), topic=topic, group=group)
    )
    async with KafkaBroker(bootstrap) as broker:
        for n in range(total):
            await broker.publish(n, topic, no_confirm=True)
        await broker.publish(-1, f"{topic}-flush")  # everything queued before it is written

    service = subprocess.Popen(  # noqa: ASYNC220  # a service of its own, as in production
        [sys.executable, "-m", "topicflow", "run", "service:app", "--app-dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        await eventually(lambda: _lines(out) > 0, timeout=60)
        # While the backlog drains, the committed position keeps up with the handler.
        seen: list[tuple[int, int]] = []  # (handled, committed)
        while _lines(out) < total * 0.8:
            seen.append((_lines(out), sum((await committed_offsets(bootstrap, group)).values())))
            await asyncio.sleep(0.25)
        commits = sorted({committed for _, committed in seen if committed > 0})
        assert len(commits) >= 3, f"the committed position moved {len(commits)} times: {seen}"
        # Never further behind than the cadence allows (1,000 messages, 300 ms) plus a poll.
        lag = max(handled - committed for handled, committed in seen[1:])
        assert lag < 1500, f"the commit fell {lag} messages behind: {seen}"
    finally:
        service.send_signal(signal.SIGTERM)
        assert service.wait(timeout=30) == 0
    assert sum((await committed_offsets(bootstrap, group)).values()) == _lines(out)


async def test_a_handler_that_blocks_the_loop_is_named_once(
    bootstrap: str, topic: str, group: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="topicflow")
    broker = KafkaBroker(bootstrap)
    handled: list[int] = []

    @broker.subscriber(topic, group_id=group, auto_offset_reset="earliest")
    async def slow(n: int) -> None:
        time.sleep(1.3)  # noqa: ASYNC251  # the blocking call under test
        handled.append(n)

    async with broker:
        await broker.start()
        for n in range(3):
            await broker.publish(n, topic)
        await eventually(lambda: len(handled) == 3, timeout=30)
    warnings = [r.getMessage() for r in caplog.records if "held the event loop" in r.getMessage()]
    assert len(warnings) == 1, warnings
    assert "slow" in warnings[0]
    assert topic in warnings[0]
    assert "asyncio.to_thread" in warnings[0]
    assert "plain def" in warnings[0]


async def test_a_plain_def_handler_runs_in_a_worker_thread(
    bootstrap: str, topic: str, group: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="topicflow")
    broker = KafkaBroker(bootstrap)
    threads: list[str] = []

    @broker.subscriber(topic, group_id=group, auto_offset_reset="earliest")
    def blocking(n: int) -> None:
        time.sleep(1.2)  # off the loop: nothing else waits for it
        threads.append(threading.current_thread().name)

    async with broker:
        await broker.start()
        await broker.publish(1, topic)
        await broker.publish(2, topic)
        await eventually(lambda: len(threads) == 2, timeout=30)
    assert threading.main_thread().name not in threads
    assert not [r for r in caplog.records if "held the event loop" in r.getMessage()]


def _spin(seconds: float) -> None:
    until = time.perf_counter() + seconds
    while time.perf_counter() < until:
        pass


@pytest.mark.parametrize("kind", ["concurrent", "batch"])
async def test_the_other_kinds_commit_as_they_go_with_a_handler_that_never_awaits(
    bootstrap: str, topic: str, group: str, kind: str
) -> None:
    total = 6000  # about 6 s of handling
    async with KafkaBroker(bootstrap) as producer:
        for n in range(total):
            await producer.publish(n, topic, key=str(n % 7), no_confirm=True)
        await producer.publish(-1, f"{topic}-flush")
    broker = KafkaBroker(bootstrap)
    handled: list[int] = []
    options = {"group_id": group, "auto_offset_reset": "earliest", "auto_commit_interval_ms": 300}
    if kind == "batch":

        @broker.subscriber(topic, batch=True, max_records=10, **options)
        async def many(ns: list[int]) -> None:
            _spin(0.001 * len(ns))
            handled.extend(ns)
    else:

        @broker.subscriber(topic, max_workers=3, **options)
        async def one(n: int) -> None:
            _spin(0.001)
            handled.append(n)

    commits: set[int] = set()
    async with broker:
        await broker.start()
        # This test shares the event loop with the handlers: it only gets to look
        # because the consume path yields.
        while len(handled) < total * 0.8:
            commits.add(sum((await committed_offsets(bootstrap, group)).values()))
            await asyncio.sleep(0.2)
    assert len(commits - {0}) >= 3, f"the committed position moved {len(commits - {0})} times"
