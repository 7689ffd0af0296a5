"""Supervision under `topicflow run`, as separate processes against the real Kafka.

A subscriber whose fetch task keeps crashing (here: a new group with
``auto_offset_reset="none"``, so every fetch fails) must not leave a live process
that consumes nothing: the service stops, exit code 1, one line naming the
subscriber and the error. And a SIGTERM while it is still restarting must end the
process within ``graceful_timeout`` plus a few seconds, even though the Kafka
client's own stop hangs after that error.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.kafka

GRACEFUL_TIMEOUT = 3.0

SERVICE = """
from topicflow import App
from topicflow.kafka import Backoff, KafkaBroker, Supervision

broker = KafkaBroker(
    {bootstrap!r},
    graceful_timeout={graceful},
    supervision=Supervision(max_restarts={restarts}, window=60, backoff=Backoff(0.1, 2, 0.5)),
)
app = App(broker)


@broker.subscriber({topic!r}, group_id={group!r}, auto_offset_reset="none")
async def handle(n: int) -> None:
    pass
"""


def _start(tmp_path: Path, bootstrap: str, topic: str, group: str, restarts: int) -> Any:
    (tmp_path / "service.py").write_text(
        textwrap.dedent(SERVICE).format(
            bootstrap=bootstrap,
            graceful=GRACEFUL_TIMEOUT,
            restarts=restarts,
            topic=topic,
            group=group,
        )
    )
    return subprocess.Popen(
        [sys.executable, "-m", "topicflow", "run", "service:app", "--app-dir", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_subscriber_that_keeps_crashing_stops_the_service_with_exit_code_1(
    bootstrap: str, topic: str, group: str, tmp_path: Path
) -> None:
    started = time.monotonic()
    proc = _start(tmp_path, bootstrap, topic, group, restarts=3)
    try:
        _, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
        pytest.fail(f"the service was still running after 60 s:\n{err[-3000:]}")
    took = time.monotonic() - started
    print(f"\ncrashing subscriber: exit code {proc.returncode} after {took:.1f} s")
    assert proc.returncode == 1, err[-3000:]
    [reason] = [line for line in err.splitlines() if line.startswith("Error:")]
    assert reason.startswith("Error: SubscriberFailed: <DefaultSubscriber")
    assert topic in reason
    assert group in reason
    assert "crashed 4 times within 60s and was given up" in reason
    assert "has no committed offset" in reason
    assert "auto_offset_reset='earliest'" in reason  # the fix
    assert err.count("restarting it in") == 3


def test_sigterm_while_restarting_exits_within_graceful_timeout(
    bootstrap: str, topic: str, group: str, tmp_path: Path
) -> None:
    proc = _start(tmp_path, bootstrap, topic, group, restarts=10_000)
    assert proc.stderr is not None
    lines: list[str] = []
    deadline = time.monotonic() + 60
    while not any("restarting it in" in line for line in lines):
        line = proc.stderr.readline()
        if not line and proc.poll() is not None:
            pytest.fail("the service exited before its first crash:\n" + "".join(lines))
        lines.append(line)
        assert time.monotonic() < deadline, "no crash within 60 s:\n" + "".join(lines)
    signalled = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        rest = proc.communicate(timeout=GRACEFUL_TIMEOUT + 5)[1]
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail(f"still running {GRACEFUL_TIMEOUT + 5} s after SIGTERM")
    took = time.monotonic() - signalled
    print(f"\nSIGTERM after a crash: exit code {proc.returncode} after {took:.1f} s")
    assert took <= GRACEFUL_TIMEOUT + 5
    assert proc.returncode == 0, rest[-3000:]
    assert "topicflow stopped" in rest
