"""FastStream for the wire-compatibility tests: its own venv, and a service run in it.

FastStream is never a dependency of topicflow and is not importable in the
project's venv. The first compat test creates ``.cache/faststream-venv`` (git
ignored) with ``python -m venv`` and installs FastStream from PyPI into it; later
runs reuse it. The FastStream service (``faststream_service.py``) runs as a
subprocess with that venv's Python, and reports what it receives as JSON lines.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
#: Pinned: the compat tests state what this exact version does on the wire.
FASTSTREAM = "faststream[kafka,otel,prometheus]==0.7.8"
VENV = ROOT / ".cache" / "faststream-venv"
SERVICE = Path(__file__).with_name("faststream_service.py")


def _run(step: list[str], what: str) -> None:
    try:
        result = subprocess.run(step, capture_output=True, text=True, timeout=900, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.fail(f"could not {what} ({' '.join(step)}): {exc!r}", pytrace=False)
    if result.returncode != 0:
        output = (result.stdout + result.stderr).strip()[-3000:]
        pytest.fail(
            f"could not {what}: `{' '.join(step)}` exited {result.returncode}. The compat "
            f"tests need FastStream from PyPI in {VENV}; check that PyPI is reachable and "
            f"that Python's venv module is installed (Debian: apt-get install python3-venv).\n"
            f"{output}",
            pytrace=False,
        )


@pytest.fixture(scope="session")
def faststream_python() -> Path:
    """The Python of a venv holding FastStream, created once and then reused."""
    python = VENV / "bin" / "python"
    stamp = VENV / ".requirement"
    if python.exists() and stamp.is_file() and stamp.read_text() == FASTSTREAM:
        return python
    # Missing, half-made (no stamp) or for another version: build it afresh.
    shutil.rmtree(VENV, ignore_errors=True)
    VENV.parent.mkdir(parents=True, exist_ok=True)
    _run([sys.executable, "-m", "venv", str(VENV)], f"create a venv at {VENV}")
    _run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", FASTSTREAM],
        f"install {FASTSTREAM}",
    )
    stamp.write_text(FASTSTREAM)
    return python


class FastStreamService:
    """The FastStream service subprocess: send it commands, wait for its events."""

    def __init__(self, python: Path, config: dict[str, Any], script: Path = SERVICE) -> None:
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
        self.config = config
        self.events: list[dict[str, Any]] = []
        self.output: list[str] = []  # stderr and any stdout line that is not an event
        self._lock = threading.Lock()
        self._proc = subprocess.Popen(
            [str(python), str(script), json.dumps(config)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self._readers = [
            threading.Thread(target=self._read, args=(self._proc.stdout, True), daemon=True),
            threading.Thread(target=self._read, args=(self._proc.stderr, False), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    def _read(self, stream: Any, events: bool) -> None:
        for line in stream:
            event = None
            if events and line.startswith("{"):
                try:
                    event = json.loads(line)
                except ValueError:
                    event = None
            with self._lock:
                if event is not None:
                    self.events.append(event)
                else:
                    self.output.append(line.rstrip())

    def find(self, event: str, **match: Any) -> dict[str, Any] | None:
        """The first event of that name whose fields equal ``match``."""
        with self._lock:
            for item in self.events:
                if item["event"] == event and all(item.get(k) == v for k, v in match.items()):
                    return item
        return None

    def _failure(self, what: str) -> str:
        code = self._proc.poll()
        state = "runs" if code is None else f"exited {code}"
        with self._lock:
            return (
                f"{what}; the FastStream service {state}; its events: {self.events}; "
                "its output:\n" + "\n".join(self.output[-40:])
            )

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while self.find("ready") is None:
            if self._proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(self._failure("the FastStream service did not start"), pytrace=False)
            time.sleep(0.05)

    async def wait_for(self, event: str, timeout: float = 30, **match: Any) -> dict[str, Any]:
        """Wait (without blocking the event loop) for an event; fail after ``timeout``."""
        deadline = time.monotonic() + timeout
        while (found := self.find(event, **match)) is None:
            if self._proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(self._failure(f"no {event!r} event with {match}"), pytrace=False)
            await asyncio.sleep(0.05)
        return found

    def send(self, **command: Any) -> None:
        assert self._proc.stdin is not None
        self._proc.stdin.write(json.dumps(command) + "\n")
        self._proc.stdin.flush()

    def stop(self) -> None:
        if self._proc.poll() is None:
            try:
                self.send(cmd="stop")
                self._proc.wait(timeout=20)
            except (OSError, subprocess.TimeoutExpired):
                self._proc.kill()
                self._proc.wait()
        for reader in self._readers:  # they end at EOF, now that the process is gone
            reader.join(timeout=5)
        for stream in (self._proc.stdin, self._proc.stdout, self._proc.stderr):
            if stream is not None:
                stream.close()


@pytest.fixture(scope="module")
def faststream_service(bootstrap: str, faststream_python: Path) -> Iterator[FastStreamService]:
    """A running FastStream service on topics of its own (names in ``.config["topics"]``)."""
    tag = uuid.uuid4().hex[:10]
    topics = {
        name: f"compat-{name.replace('_', '-')}-{tag}"
        for name in (
            "to_faststream",
            "faststream_rpc",
            "faststream_replies",
            "to_topicflow",
            "topicflow_rpc",
        )
    }
    service = FastStreamService(
        faststream_python,
        {"bootstrap": bootstrap, "topics": topics, "group": f"compat-fs-{tag}"},
    )
    try:
        service.wait_ready()
        yield service
    finally:
        service.stop()
