"""A guard on the consume hot path: benchmark scenario 1, small, against raw aiokafka.

Not a timing assertion about absolute speed: it compares topicflow with the raw
client measured in the same run on the same machine (each in a process of its
own, alternating, median of five), and fails only when topicflow falls below
half the raw rate. The full comparison is ``./scripts/bench`` (benchmarks/).
"""

from __future__ import annotations

import asyncio
import statistics
import uuid

import pytest
from benchmarks.run import PARTITIONS, create_topics, order_for, prefill, run_worker

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(300)]

COUNT = 20_000
REPS = 5
FLOOR = 0.5


def test_consume_hot_path_keeps_at_least_half_the_raw_rate(
    bootstrap: str, capsys: pytest.CaptureFixture[str]
) -> None:
    topic = f"guard-{uuid.uuid4().hex[:12]}"
    asyncio.run(create_topics(bootstrap, {topic: PARTITIONS}))
    asyncio.run(prefill(bootstrap, topic, COUNT))
    rates: dict[str, list[float]] = {"topicflow": [], "raw": []}
    for rep in range(REPS):
        for framework in order_for(rep, ("topicflow", "raw")):
            params = {
                "bootstrap": bootstrap,
                "topic": topic,
                "group": f"guard-{framework}-{uuid.uuid4().hex[:8]}",
                "count": COUNT,
                "cap": 30.0,
            }
            result = run_worker(framework, "consume_ack", params, timeout=120)
            assert "error" not in result, f"{framework}: {result['error']}"
            assert result["count"] >= COUNT, f"{framework} handled {result['count']} of {COUNT}"
            rates[framework].append(result["rate"])
    topicflow, raw = (statistics.median(rates[f]) for f in ("topicflow", "raw"))
    line = (
        f"hot path guard (scenario 1, {COUNT:,} messages, median of {REPS}): topicflow "
        f"{topicflow:,.0f} msg/s, raw aiokafka {raw:,.0f} msg/s, ratio {topicflow / raw:.2f} "
        f"(floor {FLOOR})"
    )
    with capsys.disabled():
        print(f"\n{line}")
    assert topicflow >= FLOOR * raw, line
