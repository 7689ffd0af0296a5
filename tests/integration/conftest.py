"""Fixtures shared by the integration tests."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from reliability.clusters import LocalCluster

#: Node 1's client port of the cluster the readiness tests stop and heal.
OWN_CLUSTER_PORT = int(os.environ.get("HEALTH_KAFKA_PORT", "9492"))


@pytest.fixture(scope="session")
def own_cluster() -> Iterator[LocalCluster]:
    """A one-broker cluster of the tests' own, which a test may stop; each test that
    stops it heals it again before it ends."""
    cluster = LocalCluster(1, OWN_CLUSTER_PORT)
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()
