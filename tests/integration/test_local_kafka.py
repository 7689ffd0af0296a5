"""scripts/kafka, as the suite's own Kafka: a second start is a no-op."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "kafka"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SCRIPT), *args], capture_output=True, text=True, timeout=120, check=False
    )


@pytest.mark.kafka
def test_start_twice_is_a_no_op(bootstrap: str) -> None:
    if _run("status").returncode != 0 or _run("bootstrap").stdout.strip() != bootstrap:
        pytest.skip("the suite runs against a Kafka that scripts/kafka did not start")
    pids_before = sorted(p.read_text() for p in (ROOT / ".cache/kafka").glob("node-*/kafka.pid"))

    state = json.loads((ROOT / ".cache/kafka/state.json").read_text())
    again = _run("start", *(["--secure"] if state.get("secure") else []))

    assert again.returncode == 0, again.stderr
    assert "already running" in again.stdout + again.stderr
    pids_after = sorted(p.read_text() for p in (ROOT / ".cache/kafka").glob("node-*/kafka.pid"))
    assert pids_after == pids_before
