"""Several worker processes, or one that restarts when the code changes.

Each worker is a plain ``topicflow run`` process; they join the same consumer
groups, so Kafka shares the partitions among them. SIGINT or SIGTERM to the
parent is passed on as SIGTERM, every worker stops gracefully, and the parent
exits 0 when they all did. A worker that dies on its own stops the others and
the parent exits 1, so the process manager (systemd, Kubernetes) restarts the
service as a whole.
"""

from __future__ import annotations

import logging
import shlex
import signal
import subprocess
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

__all__ = ["run_reloading", "run_workers"]

log = logging.getLogger("topicflow.cli")


def run_workers(commands: list[list[str]]) -> int:
    """Run one worker per command until a signal; returns the exit code."""
    count = len(commands)
    stopping = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    workers = [subprocess.Popen(command) for command in commands]
    log.info("started %d workers: %s", count, " ".join(str(w.pid) for w in workers))
    failed: list[int] = []
    try:
        while not stopping and not failed:
            for worker in workers:
                code = worker.poll()
                if code is not None:
                    log.error("worker %d exited with %d; stopping the others", worker.pid, code)
                    failed.append(code)
            time.sleep(0.2)
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
        codes = [worker.wait() for worker in workers]
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if failed:
        return 1
    log.info("all %d workers stopped (exit codes %s)", count, codes)
    return 0 if all(code == 0 for code in codes) else 1


def run_reloading(command: list[str], app_dir: Path, extensions: Sequence[str] = ()) -> None:
    """Run ``command``, restarting it whenever a Python file (or one with any of
    ``extensions``) under ``app_dir`` changes."""
    import watchfiles

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # watchfiles stops the process and returns

    signal.signal(signal.SIGTERM, stop)
    log.info("watching %s for changes", app_dir.resolve())
    watchfiles.run_process(
        app_dir,
        target=" ".join(_quote(part) for part in command),
        target_type="command",
        watch_filter=watchfiles.PythonFilter(
            extra_extensions=tuple(ext if ext.startswith(".") else f".{ext}" for ext in extensions)
        ),
        callback=lambda changes: log.info("changed: %s; restarting", _names(changes)),
        sigint_timeout=30,
    )


def _quote(part: str) -> str:
    return shlex.quote(part)


def _names(changes: set[tuple[Any, str]]) -> str:
    return ", ".join(sorted(path for _, path in changes))
