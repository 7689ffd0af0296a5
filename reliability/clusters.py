"""The suite's own Kafka clusters, run by scripts/kafka beside any other on the machine.

Each cluster keeps its state, logs, pids and data in ``.cache/faults/kafka-<port>``
(``KAFKA_CACHE_DIR``), so ``./scripts/test``'s Kafka on 9092 and the suite's
clusters never see each other's files, and ``stop`` stops only what this
cluster started. Every start is fresh: no topic or group of an earlier run.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from pathlib import Path

from reliability.report import ROOT

SCRIPT = ROOT / "scripts" / "kafka"
#: Client ports of node 1 of the suite's clusters: away from the test Kafka (9092-9114).
SINGLE_PORT = 9292
TRIPLE_PORT = 9392
START_TIMEOUT = 180.0


class ClusterError(RuntimeError):
    """scripts/kafka failed; the message carries its output."""


class LocalCluster:
    """One cluster of ``brokers`` nodes on loopback, node 1's client port ``port``."""

    def __init__(self, brokers: int, port: int) -> None:
        self.brokers = brokers
        self.port = port
        self.cache = ROOT / ".cache" / "faults" / f"kafka-{port}"

    @property
    def bootstrap(self) -> str:
        # scripts/kafka's layout: node n listens on port + 10 * (n - 1).
        return ",".join(f"127.0.0.1:{self.port + 10 * n}" for n in range(self.brokers))

    def _kafka(self, *args: str) -> str:
        env = {**os.environ, "KAFKA_CACHE_DIR": str(self.cache)}
        try:
            done = subprocess.run(
                [str(SCRIPT), *args],
                env=env,
                capture_output=True,
                text=True,
                timeout=START_TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise ClusterError(f"scripts/kafka {' '.join(args)} took over {exc.timeout} s") from exc
        if done.returncode != 0:
            raise ClusterError(
                f"scripts/kafka {' '.join(args)} (KAFKA_CACHE_DIR={self.cache}) failed:\n"
                + (done.stdout + done.stderr).strip()[-3000:]
            )
        return done.stdout.strip()

    def _options(self) -> list[str]:
        return ["--brokers", str(self.brokers), "--port", str(self.port)]

    def start(self) -> str:
        """Start the cluster on fresh storage (after stopping what an earlier run left)."""
        self._kafka("stop")
        return self._kafka("start", *self._options(), "--fresh")

    def stop(self) -> str:
        return self._kafka("stop")

    def heal(self) -> str:
        """Start again the nodes that are not running, and wait until all answer."""
        return self._kafka("start", *self._options())

    def pid(self, node: int) -> int:
        return int((self.cache / f"node-{node}" / "kafka.pid").read_text().strip())

    def kill(self, node: int) -> int:
        """SIGKILL the process of broker ``node`` (its node id); returns its pid."""
        pid = self.pid(node)
        os.kill(pid, signal.SIGKILL)
        return pid

    def log(self, node: int) -> Path:
        return self.cache / f"node-{node}" / "kafka.log"

    async def astart(self) -> str:
        return await asyncio.to_thread(self.start)

    async def astop(self) -> str:
        return await asyncio.to_thread(self.stop)

    async def aheal(self) -> str:
        return await asyncio.to_thread(self.heal)
