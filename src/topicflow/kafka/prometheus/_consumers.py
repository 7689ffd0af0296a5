"""The Kafka consumer metrics: lag, committed offsets, assignments, rebalances, poison
messages, fetch-loop restarts, and messages retried and dead-lettered, per consumer group.

:class:`GroupWatch` is the :class:`~topicflow.kafka._watch.ConsumerWatch` a
``KafkaPrometheusMiddleware`` gives each consumer group of its subscribers; it
keeps what the consumers report (fetches, commits, rebalances) as plain numbers,
and :class:`ConsumerFamilies` turns them into metric families on each scrape.
Nothing here asks the cluster anything: the end offsets are those the client
read from its fetch responses, the committed offsets those topicflow committed.

Lag of a partition = its end offset (high watermark; last stable offset under
``read_committed``) - the offset committed last by this consumer. Before its
first commit after an assignment, the offset it started fetching from stands
for the committed one (it is the group's committed offset, or the reset
position); for a consumer outside any group, which commits nothing, the
offset after the last record fetched does.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from prometheus_client.metrics_core import Metric

from topicflow.prometheus._collector import count

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

    from topicflow.kafka._transport import TopicPartition
    from topicflow.kafka._watch import Progress
    from topicflow.prometheus._collector import Families

__all__ = ["ConsumerFamilies", "GroupWatch", "consumer_families"]


class _Partition:
    __slots__ = ("committed", "end", "next", "start")

    def __init__(self) -> None:
        self.end: int | None = None
        self.committed: int | None = None
        #: The first offset fetched since it was assigned, and the one after the last.
        self.start: int | None = None
        self.next: int | None = None


class GroupWatch:
    """What the consumers of one group (of one app name) report, kept for the scrape."""

    def __init__(self, grouped: bool) -> None:
        self.grouped = grouped
        self.partitions: dict[TopicPartition, _Partition] = {}
        self.owned: set[TopicPartition] = set()
        created = time.time()
        #: Counters as [count, created].
        self.rebalances = [0, created]
        self.restarts = [0, created]
        self.poison: dict[str, list[float]] = {}
        #: By the topic the message was first read from.
        self.retries: dict[str, list[float]] = {}
        self.dead_letters: dict[str, list[float]] = {}

    def _partition(self, tp: TopicPartition) -> _Partition:
        partition = self.partitions.get(tp)
        if partition is None:
            partition = self.partitions[tp] = _Partition()
        return partition

    # -- ConsumerWatch -----------------------------------------------------------

    def fetched(self, progress: Mapping[TopicPartition, Progress]) -> None:
        for tp, (first, after, end) in progress.items():
            partition = self._partition(tp)
            if end is not None:
                partition.end = end
            if first is not None and partition.start is None:
                partition.start = first
            if after is not None:
                partition.next = after
        self.owned.update(progress)

    def committed(self, offsets: Mapping[TopicPartition, int]) -> None:
        for tp, offset in offsets.items():
            self._partition(tp).committed = offset

    def assigned(self, tps: set[TopicPartition]) -> None:
        self.rebalances[0] += 1
        self.owned.update(tps)

    def revoked(self, tps: set[TopicPartition]) -> None:
        for tp in tps:
            self.partitions.pop(tp, None)
        self.owned.difference_update(tps)

    def poisoned(self, tp: TopicPartition) -> None:
        count(self.poison, tp.topic)

    def retried(self, tp: TopicPartition) -> None:
        count(self.retries, tp.topic)

    def dead_lettered(self, tp: TopicPartition) -> None:
        count(self.dead_letters, tp.topic)

    def restarted(self) -> None:
        self.restarts[0] += 1

    # -- for the scrape ----------------------------------------------------------

    def lag(self, partition: _Partition) -> int | None:
        """The partition's lag, or None while its end is unknown."""
        end = partition.end
        if end is None:
            return None
        basis = partition.committed
        if basis is None:
            basis = partition.start if self.grouped else (partition.next or partition.start)
        return max(end - basis, 0) if basis is not None else 0


class ConsumerFamilies:
    """The consumer metric families of one registry and prefix."""

    def __init__(self) -> None:
        #: By (app_name, group id or "").
        self.groups: dict[tuple[str, str], GroupWatch] = {}

    def watch(self, app_name: str, group_id: str | None) -> GroupWatch:
        key = (app_name, group_id or "")
        watch = self.groups.get(key)
        if watch is None:
            watch = self.groups[key] = GroupWatch(grouped=group_id is not None)
        return watch

    def __call__(self, prefix: str, created: bool) -> Iterator[Metric]:
        p = f"{prefix}_kafka"
        lag = Metric(f"{p}_consumer_lag", "Records behind the partition's end", "gauge")
        committed = Metric(f"{p}_committed_offset", "Offset committed last", "gauge")
        assigned = Metric(f"{p}_assigned_partitions", "Partitions owned now", "gauge")
        rebalances = Metric(f"{p}_rebalances", "Assignments received", "counter")
        poison = Metric(f"{p}_poison_messages", "Poison messages rejected", "counter")
        restarts = Metric(f"{p}_fetch_restarts", "Fetch loop restarts after a crash", "counter")
        retried = Metric(f"{p}_retried_messages", "Failed messages sent to retry", "counter")
        dead = Metric(f"{p}_dead_lettered_messages", "Messages dead-lettered", "counter")
        for (app, group), watch in list(self.groups.items()):
            labels = {"app_name": app, "group": group}
            for tp, partition in list(watch.partitions.items()):
                where = {**labels, "topic": tp.topic, "partition": str(tp.partition)}
                behind = watch.lag(partition)
                if behind is not None:
                    lag.add_sample(lag.name, where, behind)
                if partition.committed is not None:
                    committed.add_sample(committed.name, where, partition.committed)
            assigned.add_sample(assigned.name, labels, len(watch.owned))
            _count(rebalances, labels, watch.rebalances, created)
            _count(restarts, labels, watch.restarts, created)
            for metric, counts in ((poison, watch.poison), (retried, watch.retries)):
                for topic, entry in list(counts.items()):
                    _count(metric, {**labels, "topic": topic}, entry, created)
            for topic, entry in list(watch.dead_letters.items()):
                _count(dead, {**labels, "topic": topic}, entry, created)
        yield from (lag, committed, assigned, rebalances, poison, restarts, retried, dead)


def _count(metric: Metric, labels: dict[str, str], entry: list[float], created: bool) -> None:
    metric.add_sample(metric.name + "_total", labels, entry[0])
    if created:
        metric.add_sample(metric.name + "_created", labels, entry[1])


def consumer_families(families: Families) -> ConsumerFamilies:
    """The consumer families of ``families`` (its registry and prefix), made on first use."""
    extra = families.extra.get("kafka")
    if not isinstance(extra, ConsumerFamilies):
        extra = ConsumerFamilies()
        families.extra["kafka"] = extra
    return extra
