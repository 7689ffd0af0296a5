"""A healthy start logs no ERROR of the Kafka client; a real failure still does."""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from aiokafka.errors import GroupAuthorizationFailedError, GroupCoordinatorNotAvailableError

from tests.helpers import eventually
from topicflow import KafkaUnavailableError
from topicflow.kafka import KafkaBroker


def _client_records(caplog: pytest.LogCaptureFixture, level: int) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name.startswith("aiokafka") and r.levelno >= level]


@pytest.mark.kafka
async def test_a_healthy_start_on_a_new_topic_logs_no_client_error(
    bootstrap: str, topic: str, group: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="aiokafka")
    broker = KafkaBroker(bootstrap)
    got: list[int] = []

    @broker.subscriber(topic, group_id=group, auto_offset_reset="earliest")
    async def handle(n: int) -> None:
        got.append(n)

    async with broker:
        await broker.start()
        await broker.publish(1, f"{topic}-also-new")
        await broker.publish(1, topic)
        await eventually(lambda: got == [1])

    assert _client_records(caplog, logging.ERROR) == []
    # Not vacuous: the client did log its "not found" for the new topics, at DEBUG now.
    demoted = [r for r in caplog.records if "not found in cluster metadata" in r.getMessage()]
    assert demoted
    assert {r.levelname for r in demoted} == {"DEBUG"}


async def test_an_unreachable_broker_still_shows_the_clients_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    broker = KafkaBroker("127.0.0.1:1", request_timeout_ms=2000)
    with pytest.raises(KafkaUnavailableError):
        await broker.start()
    errors = _client_records(caplog, logging.ERROR)
    assert any("Unable connect to" in r.getMessage() for r in errors), caplog.text


def test_only_the_retriable_coordinator_error_is_demoted(caplog: pytest.LogCaptureFixture) -> None:
    KafkaBroker("127.0.0.1:1")._make_transport()  # the transport installs the filter
    coordinator = logging.getLogger("aiokafka.consumer.group_coordinator")
    coordinator.error("Group Coordinator Request failed: %s", GroupCoordinatorNotAvailableError())
    coordinator.error("Group Coordinator Request failed: %s", GroupAuthorizationFailedError())
    [shown] = _client_records(caplog, logging.WARNING)
    assert "GroupAuthorizationFailedError" in shown.getMessage()
    assert shown.levelname == "ERROR"


SERVICE = """
from topicflow import App
from topicflow.kafka import KafkaBroker

broker = KafkaBroker({bootstrap!r})
app = App(broker)

@broker.subscriber({topic!r}, group_id={group!r}, auto_offset_reset="earliest")
async def handle(n: int) -> None:
    print("handled", n, flush=True)

@app.after_startup
async def ready() -> None:
    await broker.publish(1, {topic!r})
"""


@pytest.mark.kafka
def test_topicflow_run_on_a_new_topic_prints_no_client_error(
    bootstrap: str, topic: str, group: str, tmp_path: Path
) -> None:
    service = textwrap.dedent(SERVICE).format(bootstrap=bootstrap, topic=topic, group=group)
    (tmp_path / "service.py").write_text(service)
    command = [sys.executable, "-m", "topicflow", "run", "service:app", "--app-dir", str(tmp_path)]
    lines: list[str] = []
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as proc:
        assert proc.stdout is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (line := proc.stdout.readline()):
            lines.append(line)
            if line.startswith("handled 1"):
                proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    out = "".join(lines)
    assert proc.returncode == 0, out
    assert "handled 1" in out
    assert not [line for line in lines if "ERROR" in line and "aiokafka" in line], out
