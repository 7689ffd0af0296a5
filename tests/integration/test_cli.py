"""`topicflow run` as a real process: hooks, graceful SIGTERM/SIGINT, one-line errors."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.helpers import committed_offsets

SERVICE = """
from topicflow import App
from topicflow.kafka import KafkaBroker

broker = KafkaBroker({bootstrap!r})
app = App(broker)
events = open({events!r}, "a", buffering=1)

@broker.subscriber({topic!r}, group_id={group!r}, auto_offset_reset="earliest")
async def handle(n: int) -> None:
    events.write(f"handled {{n}}\\n")

app.on_startup(lambda: events.write("on_startup\\n"))

@app.after_startup
async def ready() -> None:
    events.write("after_startup\\n")
    await broker.publish(1, {topic!r})

@app.on_shutdown
def bye() -> None:
    events.write("on_shutdown\\n")

@app.after_shutdown
async def gone() -> None:
    events.write("after_shutdown\\n")
"""


def _topicflow(*args: str, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "topicflow", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _wait_for(path: Path, text: str, proc: subprocess.Popen[str], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text():
            return
        if proc.poll() is not None:
            out = proc.stdout.read() if proc.stdout else ""
            raise AssertionError(f"service exited early ({proc.returncode}):\n{out}")
        time.sleep(0.05)
    proc.kill()
    raise AssertionError(f"{text!r} did not appear in {path}")


@pytest.mark.kafka
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_run_stops_gracefully_on_signals(
    bootstrap: str, topic: str, group: str, tmp_path: Path, sig: signal.Signals
) -> None:
    events = tmp_path / "events.txt"
    (tmp_path / "service.py").write_text(
        textwrap.dedent(SERVICE).format(
            bootstrap=bootstrap, events=str(events), topic=topic, group=group
        )
    )
    proc = _topicflow("run", "service:app", "--app-dir", str(tmp_path), cwd=Path.cwd())
    _wait_for(events, "handled 1", proc)
    proc.send_signal(sig)
    out, _ = proc.communicate(timeout=30)

    assert proc.returncode == 0, out
    assert events.read_text().splitlines() == [
        "on_startup",
        "after_startup",
        "handled 1",
        "on_shutdown",
        "after_shutdown",
    ]
    assert "Traceback" not in out
    # The handled message was committed on the way out.
    assert sum((await committed_offsets(bootstrap, group)).values()) == 1


def test_wrong_import_path_is_one_line(tmp_path: Path) -> None:
    proc = _topicflow("run", "no_such_module:app", "--app-dir", str(tmp_path), cwd=tmp_path)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode != 0
    assert "cannot import 'no_such_module'" in out
    assert "Traceback" not in out
    assert len(out.strip().splitlines()) == 1, out


def test_missing_attribute_and_bad_form_are_one_line(tmp_path: Path) -> None:
    (tmp_path / "svc.py").write_text("app = None\nother = 1\n")
    cases = {
        "svc:nothing": "has no attribute 'nothing'",
        "svc:other": "not a topicflow App",
        "svc": "is not MODULE:APP",
    }
    for target, expected in cases.items():
        proc = _topicflow("run", target, "--app-dir", str(tmp_path), cwd=tmp_path)
        out, _ = proc.communicate(timeout=30)
        assert proc.returncode != 0, target
        assert expected in out, out
        assert "Traceback" not in out


def test_unreachable_kafka_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "svc.py").write_text(
        "from topicflow import App\n"
        "from topicflow.kafka import KafkaBroker\n"
        "app = App(KafkaBroker('127.0.0.1:1', request_timeout_ms=2000))\n"
    )
    proc = _topicflow("run", "svc:app", "--app-dir", str(tmp_path), cwd=tmp_path)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 1
    error_lines = [line for line in out.splitlines() if line.startswith("Error:")]
    assert error_lines == [error_lines[0]]
    assert "KafkaUnavailableError" in error_lines[0]
    assert "127.0.0.1:1" in error_lines[0]
    assert "Traceback" not in out
