"""KafkaPrometheusMiddleware(metrics_prefix="faststream") writes FastStream's metrics.

The same traffic (tests/compat/prometheus_traffic.py) runs through FastStream
0.7's middleware in its own venv, and through topicflow's here, each under its
own TestKafkaBroker; both scrapes are parsed with prometheus_client's parser
and compared: family names and types, label names, and the counts.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.compat

TRAFFIC = Path(__file__).with_name("prometheus_traffic.py")


def _scrape(python: Path | str, which: str) -> dict[str, Any]:
    done = subprocess.run(
        [str(python), str(TRAFFIC), which], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return {family.name: family for family in text_string_to_metric_families(done.stdout)}


def _series(family: Any) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Values by sample name and labels; durations (which differ) by their count only."""
    out = {}
    for sample in family.samples:
        if "_duration_seconds_" in sample.name and not sample.name.endswith("_count"):
            continue
        if sample.name.endswith("_created") or family.name.endswith("_created"):
            continue
        labels = dict(sample.labels)
        if labels.get("handler") == "shipped":
            continue  # FastStream's test client also "receives" what publishers send
        labels.pop("source", None)  # a callable label: see the migration notes
        out[(sample.name, frozenset(labels.items()))] = sample.value
    return out


def test_faststream_prefix_gives_faststreams_families(faststream_python: Path) -> None:
    theirs = _scrape(faststream_python, "faststream")
    ours = _scrape(sys.executable, "topicflow")
    # Nine families, and (text format) a gauge family of each one's _created samples.
    assert len([name for name in theirs if not name.endswith("_created")]) == 9, sorted(theirs)
    # Every family of FastStream's, with its type; ours adds only the consumer's own.
    for name, family in theirs.items():
        assert name in ours, name
        assert ours[name].type == family.type, name
    extra = {name for name in ours if name not in theirs}
    assert all(name.startswith("faststream_kafka_") for name in extra), extra
    assert {
        "faststream_kafka_consumer_lag",
        "faststream_kafka_committed_offset",
        "faststream_kafka_assigned_partitions",
        "faststream_kafka_rebalances",
        "faststream_kafka_poison_messages",
        "faststream_kafka_fetch_restarts",
    } <= extra
    for name, family in theirs.items():
        label_names = {frozenset(s.labels) for s in family.samples}
        assert label_names == {frozenset(s.labels) for s in ours[name].samples}, name
        assert _series(ours[name]) == _series(family), name
    # The traffic reached every status FastStream's middleware reports, and exceptions.
    processed = _series(theirs["faststream_received_processed_messages"])
    statuses = {dict(labels)["status"] for (_, labels) in processed}
    assert statuses == {"acked", "error", "rejected"}
    assert ours["faststream_received_processed_messages_exceptions"].samples
