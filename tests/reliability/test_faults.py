"""The fault suite's short form (``./scripts/faults --short``), one test per scenario.

Each test runs one scenario of ``reliability/`` against Kafka clusters the suite
starts itself (``$FAULTS_PORT``, default 9292, and for the failover scenario
``$FAULTS_CLUSTER_PORT``, default 9392; never the test Kafka on 9092), and
asserts every target of its rows; the message is the scenario's table.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from reliability.cli import SCENARIOS, run_scenario
from reliability.clusters import SINGLE_PORT, TRIPLE_PORT, LocalCluster
from reliability.context import SHORT, Context
from reliability.report import failures, table

pytestmark = [pytest.mark.kafka, pytest.mark.faults, pytest.mark.timeout(300)]


def _port(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


@pytest.fixture(scope="module")
def single() -> Iterator[LocalCluster]:
    cluster = LocalCluster(1, _port("FAULTS_PORT", SINGLE_PORT))
    cluster.start()
    yield cluster
    cluster.stop()


@pytest.fixture(scope="module")
def triple() -> Iterator[LocalCluster]:
    cluster = LocalCluster(3, _port("FAULTS_CLUSTER_PORT", TRIPLE_PORT))
    cluster.start()
    yield cluster
    cluster.stop()


async def _check(key: str, ctx: Context) -> None:
    rows = await run_scenario(SCENARIOS[key], ctx)  # prints its table to stderr
    if failures(rows):
        pytest.fail("targets missed:\n" + table(rows), pytrace=False)


@pytest.mark.parametrize("key", ["1", "2", "3", "5", "6", "7"])
async def test_scenario_on_one_broker(key: str, single: LocalCluster, tmp_path: Path) -> None:
    await _check(key, Context(scale=SHORT, folder=tmp_path, single=single))


async def test_leader_failover(triple: LocalCluster, tmp_path: Path) -> None:
    await _check("4", Context(scale=SHORT, folder=tmp_path, triple=triple))
