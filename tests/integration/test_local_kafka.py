"""scripts/kafka, as the suite's own Kafka: a second start is a no-op."""

from __future__ import annotations

import json
import shutil
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

    # The options it was started with ($KAFKA_PORT, --brokers, ...), saved in its state.
    state = json.loads((ROOT / ".cache/kafka/state.json").read_text())
    options = ["--port", str(state["port"]), "--brokers", str(state["brokers"])]
    options += ["--data-dir", state["data_dir"], *(["--secure"] if state.get("secure") else [])]
    again = _run("start", *options)

    assert again.returncode == 0, again.stderr
    assert "already running" in again.stdout + again.stderr
    pids_after = sorted(p.read_text() for p in (ROOT / ".cache/kafka").glob("node-*/kafka.pid"))
    assert pids_after == pids_before


@pytest.mark.kafka
def test_ports_taken_by_another_kafka_say_how_to_use_it_or_move(
    bootstrap: str, tmp_path: Path
) -> None:
    """`start` from another checkout on the ports of a running Kafka (the suite's)."""
    if shutil.which("java") is None:
        pytest.skip("scripts/kafka start needs java")
    other = tmp_path / "other-checkout" / "scripts"
    other.mkdir(parents=True)
    for name in ("kafka", "kafka-pom.xml", "kafka-log4j2.xml"):
        shutil.copy2(SCRIPT.parent / name, other / name)
    port = bootstrap.split(",")[0].rpartition(":")[2]

    done = subprocess.run(
        [str(other / "kafka"), "start", "--port", port],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 1
    message = done.stderr
    assert f"port(s) [{port}" in message
    assert f"a Kafka answers at 127.0.0.1:{port}" in message
    assert f"KAFKA_BOOTSTRAP=127.0.0.1:{port} ./scripts/demo" in message
    assert "KAFKA_PORT=" in message
    assert not (tmp_path / "other-checkout" / ".cache").exists()  # it started nothing
