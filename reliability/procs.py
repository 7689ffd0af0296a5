"""Services as separate processes under ``topicflow run``, and what they wrote down.

A service is a small module file written into the scenario's folder and started
with ``python -m topicflow run MODULE:app --app-dir DIR``, as a process manager
would. Each process appends one line per handled message to a file of its own,
``"<id> <unix time>\\n"``; a line that SIGKILL cut before its newline does not count.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

#: Seconds between two looks at a condition.
POLL = 0.05


async def wait_until(check: Callable[[], bool | Awaitable[bool]], timeout: float) -> bool:
    """Poll ``check`` until it is true (True) or ``timeout`` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if not isinstance(result, bool):
            result = await result
        if result:
            return True
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(POLL)


class Lines:
    """The complete ``"<id> <time>"`` lines of one file, read as it grows."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.entries: list[tuple[int, float]] = []
        self._offset = 0
        self._tail = b""

    def read(self) -> list[tuple[int, float]]:
        """Read what was appended since the last call; return every complete line so far."""
        try:
            with self.path.open("rb") as handle:
                handle.seek(self._offset)
                data = handle.read()
        except FileNotFoundError:
            return self.entries
        self._offset += len(data)
        *complete, self._tail = (self._tail + data).split(b"\n")
        for line in complete:
            ident, _, stamp = line.partition(b" ")
            self.entries.append((int(ident), float(stamp)))
        return self.entries

    @property
    def ids(self) -> list[int]:
        return [ident for ident, _ in self.read()]


class Service:
    """One run of a service module: a ``topicflow run`` process and its output file."""

    def __init__(self, folder: Path, module: str, name: str, env: dict[str, str] | None = None):
        self.name = name
        self.out = folder / f"{name}.handled"
        self.log = folder / f"{name}.log"
        self.lines = Lines(self.out)
        command = [sys.executable, "-m", "topicflow", "run", f"{module}:app"]
        command += ["--app-dir", str(folder), "--log-level", "warning"]
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **(env or {}), "FAULTS_OUT": str(self.out)},
                # Its own session: a Ctrl-C meant for the suite does not stop it mid-scenario.
                start_new_session=True,
            )
        self.started = time.time()
        self.signals: list[str] = []

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def exited(self) -> int | None:
        return self.proc.poll()

    def send(self, sig: signal.Signals) -> None:
        self.signals.append(sig.name)
        if self.proc.poll() is None:
            self.proc.send_signal(sig)

    async def wait(self, timeout: float) -> int | None:
        """The exit code, or None if the process still runs after ``timeout`` seconds."""
        await wait_until(lambda: self.proc.poll() is not None, timeout)
        return self.proc.poll()

    async def kill(self) -> int | None:
        """SIGKILL, and the exit code once it is gone."""
        self.send(signal.SIGKILL)
        return await self.wait(10)

    async def terminate(self, timeout: float) -> int | None:
        """SIGTERM (a graceful stop) and the exit code; SIGKILL after ``timeout`` seconds."""
        self.send(signal.SIGTERM)
        code = await self.wait(timeout)
        if code is None:
            await self.kill()
        return code

    def reap(self) -> None:
        """Make sure the process is gone (after a failed scenario) and waited for."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)

    def tail(self, lines: int = 20) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


class Services:
    """The processes of one scenario: started in order, reaped whatever happens."""

    def __init__(self, folder: Path, module: str, source: str) -> None:
        self.folder = folder
        self.module = module
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{module}.py").write_text(source)
        self.runs: list[Service] = []

    def start(self, env: dict[str, str] | None = None) -> Service:
        service = Service(self.folder, self.module, f"{self.module}-{len(self.runs) + 1}", env)
        self.runs.append(service)
        return service

    def handled(self) -> list[int]:
        """Every id handled so far, by every run, with repeats."""
        return [ident for run in self.runs for ident in run.lines.ids]

    def unique(self) -> int:
        return len(set(self.handled()))

    def reap(self) -> None:
        for run in self.runs:
            run.reap()

    def __enter__(self) -> Services:
        return self

    def __exit__(self, *exc: object) -> None:
        self.reap()
