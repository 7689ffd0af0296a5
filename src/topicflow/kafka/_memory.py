"""An in-memory Kafka cluster, and a :class:`~topicflow.kafka._transport.Transport` over it.

This is a real implementation of the transport seam, not a stub that calls
handlers: records go to partition logs with offsets and timestamps, and
consumers fetch them with ``getmany`` like they would from a broker.

What it models, and where it follows which part of Kafka:

* **Topics and partitions.** A topic is created on first use (a publish, or a
  consumer subscribing to it) with ``default_partitions`` partitions, like a
  cluster with ``auto.create.topics.enable`` and ``num.partitions``; or
  explicitly with :meth:`MemoryKafka.create_topic`.
* **Partitioning.** A keyed record goes to ``toPositive(murmur2(key)) %
  partitions``, the Java client's default partitioner (and aiokafka's), so a key
  lands on the same partition number as on a real cluster. An unkeyed record
  goes to a partition chosen uniformly at random, as aiokafka's default
  partitioner does (every in-memory partition is always available): tests must
  not depend on where unkeyed records land, on either back end.
* **Consumer groups.** Members of a group share its partitions round robin
  (partitions sorted by topic and number, members in join order, each partition
  to the next member subscribed to its topic), like aiokafka's default
  ``RoundRobinPartitionAssignor``. Rebalances are eager, as in aiokafka: when a
  member joins or leaves, or a topic matching a member's pattern appears, every
  member, at its next ``getmany``, is called back with ``on_revoked(all it
  had)`` (an empty set on its first join) and then ``on_assigned(new)``. A
  partition is fetched by its new owner only once the previous owner has
  finished its ``on_revoked`` (where it commits), and then from the committed
  offset. Committed offsets belong to the group; each group gets each record.
* **Offsets to start from.** A partition without a committed offset starts at
  ``auto_offset_reset``: ``earliest`` is offset 0 (nothing is ever deleted),
  ``latest`` is the end of the partition *when the partition entered the
  group's subscription* (when the first member joined, or when the topic was
  created), so nothing published after a subscriber's ``start()`` is missed.
  Kafka resolves ``latest`` a little later, on the first fetch; see
  docs/testing.md.
* ``seek``, ``pause``/``resume``, ``getmany(timeout_ms, max_records)`` with
  the batch spread over partitions in turn, regex ``pattern`` subscriptions
  (``re.match`` against topic names, as aiokafka does) and manual ``partitions``.
"""

from __future__ import annotations

import asyncio
import random
import re
import struct
import time
from typing import TYPE_CHECKING, Literal

from topicflow.exceptions import CommitError, PublishError, SetupError
from topicflow.kafka._transport import (
    ConsumerRecord,
    ConsumerStopped,
    RecordMetadata,
    TopicPartition,
)

if TYPE_CHECKING:
    import logging
    from collections.abc import Iterable, Mapping, Sequence

    from topicflow.kafka._transport import (
        ConsumerSpec,
        ConsumerTransport,
        RebalanceHandler,
    )

__all__ = ["MemoryKafka", "MemoryTransport", "murmur2", "partition_for_key"]

Record = ConsumerRecord[bytes, bytes]
Headers = list[tuple[str, bytes]]

#: aiokafka's ``max_poll_records`` default: the batch bound when the caller gives none.
_MAX_POLL_RECORDS = 500
#: CreateTime: the record keeps the producer's timestamp (the cluster default).
_CREATE_TIME = 0

_M = 0x5BD1E995
_MASK = 0xFFFFFFFF


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 hash of ``data``, as the signed 32-bit int the Java client returns."""
    length = len(data)
    h = (0x9747B28C ^ length) & _MASK
    whole = length & ~3
    for (k,) in struct.iter_unpack("<I", data[:whole]):
        k = (k * _M) & _MASK
        k ^= k >> 24
        k = (k * _M) & _MASK
        h = ((h * _M) & _MASK) ^ k
    # The Java switch falls through: 3 trailing bytes mix all three.
    tail = length & 3
    if tail == 3:
        h ^= data[whole + 2] << 16
    if tail >= 2:
        h ^= data[whole + 1] << 8
    if tail >= 1:
        h ^= data[whole]
        h = (h * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    h ^= h >> 15
    return h - (1 << 32) if h & 0x80000000 else h


def partition_for_key(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner gives ``key``: ``toPositive(murmur2) % n``."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


class MemoryKafka:
    """One in-memory cluster: topics, partition logs, consumer groups and their offsets.

    Args:
        default_partitions: partitions of a topic created on first use.
    """

    def __init__(self, *, default_partitions: int = 1) -> None:
        if default_partitions < 1:
            raise SetupError(f"default_partitions must be at least 1, got {default_partitions}")
        self.default_partitions = default_partitions
        self._logs: dict[str, list[list[Record]]] = {}
        self._groups: dict[str, _Group] = {}
        self._consumers: list[_MemoryConsumer] = []
        self._random = random.Random()

    # -- topics ----------------------------------------------------------------

    def create_topic(self, name: str, partitions: int = 1) -> None:
        """Create ``name`` with ``partitions`` partitions; a no-op when it exists with as many."""
        if partitions < 1:
            raise SetupError(f"topic {name!r} needs at least one partition, got {partitions}")
        existing = self._logs.get(name)
        if existing is not None:
            if len(existing) != partitions:
                raise SetupError(
                    f"topic {name!r} already exists with {len(existing)} partitions, not "
                    f"{partitions}; give its partition count before anything uses it"
                )
            return
        self._logs[name] = [[] for _ in range(partitions)]
        self._topic_created(name)

    def topics(self) -> dict[str, int]:
        """Every topic and its partition count."""
        return {name: len(logs) for name, logs in self._logs.items()}

    def records(self, tp: TopicPartition) -> Sequence[Record]:
        """The records of one partition, oldest first."""
        logs = self._logs.get(tp.topic)
        if logs is None or not 0 <= tp.partition < len(logs):
            return ()
        return logs[tp.partition]

    def end_offset(self, tp: TopicPartition) -> int:
        """The offset the next record of ``tp`` gets."""
        return len(self.records(tp))

    def committed(self, group_id: str) -> dict[TopicPartition, int]:
        """The committed offsets of ``group_id`` (empty for an unknown group)."""
        group = self._groups.get(group_id)
        return dict(group.committed) if group is not None else {}

    def _ensure_topic(self, name: str) -> list[list[Record]]:
        logs = self._logs.get(name)
        if logs is None:
            logs = self._logs[name] = [[] for _ in range(self.default_partitions)]
            self._topic_created(name)
        return logs

    def _partitions_of(self, topic: str) -> list[TopicPartition]:
        return [TopicPartition(topic, n) for n in range(len(self._logs.get(topic, ())))]

    def _topic_created(self, topic: str) -> None:
        # Pattern subscribers learn about the topic before its first record lands.
        for group in self._groups.values():
            if any(member.covers(topic) for member in group.members):
                group.rebalance()
        for consumer in self._consumers:
            if consumer.group is None and consumer.covers(topic):
                consumer.extend(self._partitions_of(topic))

    # -- producing -------------------------------------------------------------

    def append(
        self,
        topic: str,
        value: bytes | None,
        *,
        key: bytes | None,
        partition: int | None,
        timestamp_ms: int | None,
        headers: Headers,
    ) -> RecordMetadata:
        """Write one record and wake the consumers of its partition."""
        if key is None and value is None:
            raise PublishError(
                f"a record for {topic!r} needs a key or a value; publish a body, or a key "
                "with body None for a tombstone"
            )
        logs = self._ensure_topic(topic)
        if partition is None:
            if key is not None:
                partition = partition_for_key(key, len(logs))
            else:
                partition = self._random.randrange(len(logs))
        elif not 0 <= partition < len(logs):
            raise PublishError(
                f"topic {topic!r} has {len(logs)} partition(s); partition {partition} "
                "does not exist"
            )
        log = logs[partition]
        timestamp = timestamp_ms if timestamp_ms is not None else time.time_ns() // 1_000_000
        offset = len(log)
        log.append(
            ConsumerRecord(
                topic=topic,
                partition=partition,
                offset=offset,
                timestamp=timestamp,
                timestamp_type=_CREATE_TIME,
                key=key,
                value=value,
                checksum=None,
                serialized_key_size=-1 if key is None else len(key),
                serialized_value_size=-1 if value is None else len(value),
                headers=tuple(headers),
            )
        )
        tp = TopicPartition(topic, partition)
        for consumer in self._consumers:
            if tp in consumer.assignment:
                consumer.wake()
        return RecordMetadata(
            topic=topic,
            partition=partition,
            topic_partition=tp,
            offset=offset,
            timestamp=timestamp,
            timestamp_type=_CREATE_TIME,
            log_start_offset=0,
        )

    # -- consumers ---------------------------------------------------------------

    def _group(self, group_id: str) -> _Group:
        group = self._groups.get(group_id)
        if group is None:
            group = self._groups[group_id] = _Group(self, group_id)
        return group


class _Group:
    """A consumer group: members, the current assignment, committed offsets."""

    def __init__(self, cluster: MemoryKafka, group_id: str) -> None:
        self.cluster = cluster
        self.group_id = group_id
        self.members: list[_MemoryConsumer] = []
        self.generation = 0
        self.assignment: dict[_MemoryConsumer, frozenset[TopicPartition]] = {}
        # Who fetches a partition now: the previous owner keeps it until its on_revoked ran.
        self.owners: dict[TopicPartition, _MemoryConsumer] = {}
        self.committed: dict[TopicPartition, int] = {}
        # Where a partition without a committed offset starts (auto_offset_reset, resolved
        # when the partition entered the subscription).
        self.starts: dict[TopicPartition, int] = {}

    def join(self, member: _MemoryConsumer) -> None:
        self.members.append(member)
        self.rebalance()

    def leave(self, member: _MemoryConsumer) -> None:
        # Like aiokafka's stop(): no on_revoked for the leaver; the others rebalance.
        self.members.remove(member)
        self.release(member, [tp for tp, owner in self.owners.items() if owner is member])
        if not self.members:
            self.starts.clear()
        self.rebalance()

    def rebalance(self) -> None:
        self.generation += 1
        members = self.members
        assigned: dict[_MemoryConsumer, set[TopicPartition]] = {m: set() for m in members}
        if members:
            wanted = sorted(
                tp
                for topic in self.cluster.topics()
                if any(m.covers(topic) for m in members)
                for tp in self.cluster._partitions_of(topic)
            )
            turn = 0
            for tp in wanted:
                while not members[turn % len(members)].covers(tp.topic):
                    turn += 1
                owner = members[turn % len(members)]
                turn += 1
                assigned[owner].add(tp)
                if tp not in self.committed and tp not in self.starts:
                    start = owner.reset_offset(tp)
                    if start is not None:
                        self.starts[tp] = start
        self.assignment = {m: frozenset(tps) for m, tps in assigned.items()}
        for member in members:
            member.wake()

    def release(self, member: _MemoryConsumer, tps: Iterable[TopicPartition]) -> None:
        for tp in tps:
            if self.owners.get(tp) is member:
                del self.owners[tp]
        for other in self.members:
            other.wake()

    def start_offset(self, tp: TopicPartition, member: _MemoryConsumer) -> int:
        committed = self.committed.get(tp)
        if committed is not None:
            return committed
        start = self.starts.get(tp)
        return start if start is not None else member.start_offset(tp)


_State = Literal["new", "started", "stopped"]


class _MemoryConsumer:
    """One consumer of the in-memory cluster: a :class:`ConsumerTransport`."""

    def __init__(
        self,
        cluster: MemoryKafka,
        spec: ConsumerSpec,
        rebalance: RebalanceHandler,
        logger: logging.Logger | None,
    ) -> None:
        self._cluster = cluster
        self._spec = spec
        self._rebalance = rebalance
        self._logger = logger
        self._pattern = re.compile(spec.pattern) if spec.pattern is not None else None
        self._reset = str(spec.options.get("auto_offset_reset", "latest"))
        self._max_poll = int(spec.options.get("max_poll_records") or _MAX_POLL_RECORDS)
        self._state: _State = "new"
        self.group: _Group | None = None
        self.assignment: frozenset[TopicPartition] = frozenset()
        self._generation = 0
        self._positions: dict[TopicPartition, int] = {}
        self._paused: set[TopicPartition] = set()
        self._wake = asyncio.Event()
        self._turn = 0

    # -- subscription ------------------------------------------------------------

    def covers(self, topic: str) -> bool:
        """True when this consumer's subscription takes ``topic`` (manual ones take none)."""
        if self._spec.partitions:
            return False
        if self._pattern is not None:
            return self._pattern.match(topic) is not None
        return topic in self._spec.topics

    def reset_offset(self, tp: TopicPartition) -> int | None:
        """Where ``auto_offset_reset`` starts ``tp``; None for ``"none"``."""
        if self._reset == "earliest":
            return 0
        if self._reset == "latest":
            return self._cluster.end_offset(tp)
        return None

    def start_offset(self, tp: TopicPartition) -> int:
        """The first offset to fetch from ``tp`` when nothing else decided it."""
        if self._spec.group_id is not None:
            committed = self._cluster._group(self._spec.group_id).committed.get(tp)
            if committed is not None:
                return committed
        start = self.reset_offset(tp)
        if start is None:
            raise SetupError(
                f"{tp.topic}[{tp.partition}] has no committed offset and "
                "auto_offset_reset='none'; commit an offset first, or use 'earliest' "
                "or 'latest'"
            )
        return start

    def extend(self, tps: Iterable[TopicPartition]) -> None:
        """A groupless subscriber takes the partitions of a topic that just appeared."""
        new = [tp for tp in tps if tp not in self.assignment]
        for tp in new:
            self._positions[tp] = self.start_offset(tp)
        self.assignment = self.assignment | frozenset(new)
        self.wake()

    def wake(self) -> None:
        self._wake.set()

    # -- ConsumerTransport -------------------------------------------------------

    async def start(self) -> None:
        if self._state != "new":
            return
        spec = self._spec
        cluster = self._cluster
        for topic in spec.topics:
            cluster._ensure_topic(topic)
        for tp in spec.partitions:
            cluster._ensure_topic(tp.topic)
        self._state = "started"
        cluster._consumers.append(self)
        if spec.partitions:
            self.assignment = frozenset(spec.partitions)
            for tp in self.assignment:
                self._positions[tp] = self.start_offset(tp)
        elif spec.group_id is not None:
            self.group = cluster._group(spec.group_id)
            self.group.join(self)
        else:
            self.extend(
                tp
                for topic in cluster.topics()
                if self.covers(topic)
                for tp in cluster._partitions_of(topic)
            )

    async def stop(self) -> None:
        if self._state == "started":
            self._cluster._consumers.remove(self)
            if self.group is not None:
                self.group.leave(self)
        self._state = "stopped"
        self.wake()

    async def getmany(
        self, timeout_ms: int, max_records: int | None
    ) -> Mapping[TopicPartition, Sequence[Record]]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_ms / 1000
        while True:
            if self._state != "started":
                raise ConsumerStopped
            # Cleared before looking, so a change made while we look wakes the next wait.
            self._wake.clear()
            await self._sync_group()
            if self._state != "started":
                raise ConsumerStopped
            batches = self._fetch(max_records if max_records is not None else self._max_poll)
            if batches:
                return batches
            remaining = deadline - loop.time()
            if remaining <= 0:
                return {}
            try:
                async with asyncio.timeout(remaining):
                    await self._wake.wait()
            except TimeoutError:
                return {}

    async def commit(self, offsets: Mapping[TopicPartition, int]) -> None:
        if self._state != "started":
            raise CommitError("the consumer is stopped; nothing was committed")
        group_id = self._spec.group_id
        if group_id is None:
            raise CommitError("a consumer without a group_id has no offsets to commit")
        if not self._spec.partitions:
            foreign = sorted(tp for tp in offsets if tp not in self.assignment)
            if foreign:
                raise CommitError(
                    f"{_describe(foreign)} not assigned to this member of group "
                    f"{group_id!r} (a rebalance moved them); nothing was committed"
                )
        self._cluster._group(group_id).committed.update(offsets)

    def seek(self, tp: TopicPartition, offset: int) -> None:
        if offset < 0:
            raise ValueError(f"offset must be a non-negative integer, got {offset}")
        # A partition no longer ours is not ours to move (its next owner starts from the
        # committed offset).
        if tp in self.assignment:
            self._positions[tp] = offset
            self.wake()

    def pause(self, tp: TopicPartition) -> None:
        if tp in self.assignment:
            self._paused.add(tp)

    def resume(self, tp: TopicPartition) -> None:
        if tp in self._paused:
            self._paused.discard(tp)
            self.wake()

    # -- internals ---------------------------------------------------------------

    async def _sync_group(self) -> None:
        """Take part in a pending rebalance: revoke everything, then take the new share."""
        group = self.group
        while group is not None and self._state == "started":
            if self._generation == group.generation:
                return
            revoked = self.assignment
            await self._callback("on_revoked", set(revoked))
            if self._state != "started":
                return
            group.release(self, revoked)
            for tp in revoked:
                self._positions.pop(tp, None)
                self._paused.discard(tp)
            self._generation = group.generation
            self.assignment = group.assignment.get(self, frozenset())
            await self._callback("on_assigned", set(self.assignment))

    async def _callback(self, name: str, tps: set[TopicPartition]) -> None:
        try:
            if name == "on_revoked":
                await self._rebalance.on_revoked(tps)
            else:
                await self._rebalance.on_assigned(tps)
        except Exception:
            # As aiokafka does: a failing listener is logged, the rebalance goes on.
            if self._logger is not None:
                self._logger.exception("rebalance listener %s(%s) failed", name, _describe(tps))

    def _fetch(self, budget: int) -> dict[TopicPartition, list[Record]]:
        tps = sorted(self.assignment)
        if not tps:
            return {}
        # Start from a different partition each time, so one busy partition
        # cannot starve the others when the batch is bounded.
        first = self._turn % len(tps)
        self._turn += 1
        batches: dict[TopicPartition, list[Record]] = {}
        for tp in tps[first:] + tps[:first]:
            if tp in self._paused or not self._claim(tp):
                continue
            log = self._cluster.records(tp)
            position = self._positions[tp]
            if position < len(log):
                batch = list(log[position : position + budget])
                batches[tp] = batch
                self._positions[tp] = position + len(batch)
                budget -= len(batch)
                if budget <= 0:
                    break
        return batches

    def _claim(self, tp: TopicPartition) -> bool:
        """Own ``tp`` for fetching, once its previous owner let go; set its position."""
        group = self.group
        if group is not None:
            owner = group.owners.get(tp)
            if owner is not None and owner is not self:
                return False
            if owner is None:
                group.owners[tp] = self
                self._positions.setdefault(tp, group.start_offset(tp, self))
        elif tp not in self._positions:
            self._positions[tp] = self.start_offset(tp)
        return True


class MemoryTransport:
    """:class:`~topicflow.kafka._transport.Transport` over a :class:`MemoryKafka`."""

    def __init__(self, cluster: MemoryKafka, logger: logging.Logger | None = None) -> None:
        self.cluster = cluster
        self._logger = logger
        self._connected = False

    async def connect(self) -> None:
        self._connected = True

    async def close(self) -> None:
        self._connected = False

    async def ping(self, timeout: float) -> bool:
        return self._connected

    async def send(
        self,
        topic: str,
        value: bytes | None,
        *,
        key: bytes | None,
        partition: int | None,
        timestamp_ms: int | None,
        headers: Headers,
    ) -> asyncio.Future[RecordMetadata]:
        if not self._connected:
            raise RuntimeError("the transport is not connected")
        metadata = self.cluster.append(
            topic, value, key=key, partition=partition, timestamp_ms=timestamp_ms, headers=headers
        )
        future: asyncio.Future[RecordMetadata] = asyncio.get_running_loop().create_future()
        future.set_result(metadata)
        return future

    async def flush(self) -> None:
        # Records are in the log as soon as send() returns: nothing is buffered.
        return

    def consumer(self, spec: ConsumerSpec, rebalance: RebalanceHandler) -> ConsumerTransport:
        return _MemoryConsumer(self.cluster, spec, rebalance, self._logger)


def _describe(tps: Iterable[TopicPartition]) -> str:
    return ", ".join(f"{tp.topic}[{tp.partition}]" for tp in sorted(tps)) or "nothing"
