"""What a scenario runs with: the clusters, its folder, and the size of the run."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path

from reliability.clusters import LocalCluster

#: Settings every consumer service of the suite shares (milliseconds). A member
#: killed with SIGKILL holds its partitions until its session times out; 6 s is
#: the broker's smallest allowed session (group.min.session.timeout.ms).
SESSION_MS = 6_000
HEARTBEAT_MS = 1_000


@dataclass(frozen=True)
class Scale:
    """How much each scenario does; FULL for ./scripts/faults, SHORT for --short and CI."""

    kill_messages: int
    kill_interval_ms: int
    kills: int
    rebalance_rate: int
    rebalance_seconds: float
    term_messages: int
    terms: int
    failover_messages: int
    failover_rate: int
    poison_records: int
    poison_rate: int
    poison_grace: float
    hot_messages: int
    hot_interval_ms: int
    retry_messages: int
    retry_rate: int


FULL = Scale(
    kill_messages=30_000,
    kill_interval_ms=500,
    kills=5,
    rebalance_rate=500,
    rebalance_seconds=40,
    term_messages=20_000,
    terms=5,
    failover_messages=30_000,
    failover_rate=1_000,
    poison_records=4_000,
    poison_rate=200,
    poison_grace=60,
    hot_messages=20_000,
    hot_interval_ms=500,
    retry_messages=12_000,
    retry_rate=400,
)
SHORT = Scale(
    kill_messages=9_000,
    kill_interval_ms=500,
    kills=5,
    rebalance_rate=500,
    rebalance_seconds=15,
    term_messages=5_000,
    terms=5,
    failover_messages=12_000,
    failover_rate=800,
    poison_records=800,
    poison_rate=200,
    poison_grace=20,
    hot_messages=5_000,
    hot_interval_ms=500,
    retry_messages=3_000,
    retry_rate=300,
)


@dataclass
class Context:
    """The clusters (started by the caller), the run's folder, and the scale."""

    scale: Scale
    folder: Path
    single: LocalCluster | None = None
    triple: LocalCluster | None = None

    def names(self, tag: str) -> tuple[str, str, Path]:
        """A new topic, group and folder for one scenario run."""
        suffix = uuid.uuid4().hex[:8]
        folder = self.folder / f"{tag}-{suffix}"
        folder.mkdir(parents=True, exist_ok=True)
        return f"faults-{tag}-{suffix}", f"faults-{tag}-{suffix}", folder

    @property
    def bootstrap(self) -> str:
        if self.single is None:
            raise RuntimeError("this scenario needs the single-broker cluster")
        return self.single.bootstrap
