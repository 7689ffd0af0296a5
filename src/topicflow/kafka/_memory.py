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
  created), so nothing published after a subscriber's ``start()`` is missed
  (the real transport fixes the position on assignment for the same reason).
* **Batches.** ``send_batch`` writes its records one after the other to one
  partition: the given one, else the first key's, else a random one.
* ``seek``, ``pause``/``resume``, ``getmany(timeout_ms, max_records)`` with
  the batch spread over partitions in turn, regex ``pattern`` subscriptions
  (``re.match`` against topic names, as aiokafka does) and manual ``partitions``.

Consumer groups and consumers are in :mod:`topicflow.kafka._memory_consumer`.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import struct
import time
from typing import TYPE_CHECKING

from topicflow.exceptions import PublishError, SetupError
from topicflow.kafka._errors import RULES
from topicflow.kafka._memory_consumer import MemoryConsumer, MemoryGroup
from topicflow.kafka._transport import ConsumerRecord, RecordMetadata, TopicPartition

if TYPE_CHECKING:
    import logging
    from collections.abc import Iterator, Sequence

    from topicflow.kafka._seam import ConsumerTransport, RebalanceHandler
    from topicflow.kafka._transport import ConsumerSpec
    from topicflow.kafka.topic import Topic

__all__ = ["MemoryKafka", "MemoryTransport", "murmur2", "partition_for_key"]

Record = ConsumerRecord[bytes, bytes]
Headers = list[tuple[str, bytes]]

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
        self._groups: dict[str, MemoryGroup] = {}
        self._consumers: list[MemoryConsumer] = []
        self._random = random.Random()
        #: While true, a consumer's getmany without records returns within a few ms.
        self.short_polls = False

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

    @contextlib.contextmanager
    def stopping(self) -> Iterator[None]:
        """While consumers are being stopped: empty polls return within a few ms.

        A fetch loop notices that it should stop only when its ``getmany``
        returns; an empty poll may end early on Kafka too.
        """
        self.short_polls = True
        for consumer in self._consumers:
            consumer.wake()
        try:
            yield
        finally:
            self.short_polls = False

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
        tp = self._place(topic, key, partition)
        return self._write(tp, [(value, key, headers)], timestamp_ms)

    def append_batch(
        self,
        topic: str,
        records: Sequence[tuple[bytes | None, bytes | None, Headers]],
        *,
        partition: int | None,
        timestamp_ms: int | None,
    ) -> RecordMetadata:
        """Write ``(value, key, headers)`` records to one partition, one after the other.

        The partition is ``partition``, else the first key's, else a random one.
        Returns the metadata of the first record.
        """
        if not records:
            raise PublishError(f"a batch for {topic!r} needs at least one record")
        tp = self._place(topic, records[0][1], partition)
        return self._write(tp, records, timestamp_ms)

    def _place(self, topic: str, key: bytes | None, partition: int | None) -> TopicPartition:
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
        return TopicPartition(topic, partition)

    def _write(
        self,
        tp: TopicPartition,
        records: Sequence[tuple[bytes | None, bytes | None, Headers]],
        timestamp_ms: int | None,
    ) -> RecordMetadata:
        for value, key, _ in records:
            if key is None and value is None:
                raise PublishError(
                    f"a record for {tp.topic!r} needs a key or a value; publish a body, or "
                    "a key with body None for a tombstone"
                )
        log = self._logs[tp.topic][tp.partition]
        timestamp = timestamp_ms if timestamp_ms is not None else time.time_ns() // 1_000_000
        first = len(log)
        for value, key, headers in records:
            log.append(
                ConsumerRecord(
                    topic=tp.topic,
                    partition=tp.partition,
                    offset=len(log),
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
        for consumer in self._consumers:
            if tp in consumer.assignment:
                consumer.wake()
        return RecordMetadata(
            topic=tp.topic,
            partition=tp.partition,
            topic_partition=tp,
            offset=first,
            timestamp=timestamp,
            timestamp_type=_CREATE_TIME,
            log_start_offset=0,
        )

    # -- consumers ---------------------------------------------------------------

    def _group(self, group_id: str) -> MemoryGroup:
        group = self._groups.get(group_id)
        if group is None:
            group = self._groups[group_id] = MemoryGroup(self, group_id)
        return group


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
            raise SetupError(f"the transport is not connected. {RULES['not_connected'].hint}")
        metadata = self.cluster.append(
            topic, value, key=key, partition=partition, timestamp_ms=timestamp_ms, headers=headers
        )
        return _done(metadata)

    async def confirm(self, topic: str, future: asyncio.Future[RecordMetadata]) -> RecordMetadata:
        return await future  # its failures are topicflow's own already

    def failure(self, topic: str, exc: BaseException) -> BaseException:
        return exc

    async def create_topics(self, topics: Sequence[Topic]) -> None:
        for topic in topics:
            if str(topic) not in self.cluster.topics():
                self.cluster.create_topic(str(topic), topic.num_partitions)

    async def send_batch(
        self,
        topic: str,
        records: Sequence[tuple[bytes | None, bytes | None, Headers]],
        *,
        partition: int | None,
        timestamp_ms: int | None,
    ) -> asyncio.Future[RecordMetadata]:
        if not self._connected:
            raise SetupError(f"the transport is not connected. {RULES['not_connected'].hint}")
        metadata = self.cluster.append_batch(
            topic, records, partition=partition, timestamp_ms=timestamp_ms
        )
        return _done(metadata)

    async def flush(self) -> None:
        # Records are in the log as soon as send() returns: nothing is buffered.
        return

    def consumer(self, spec: ConsumerSpec, rebalance: RebalanceHandler) -> ConsumerTransport:
        return MemoryConsumer(self.cluster, spec, rebalance, self._logger)


def _done(metadata: RecordMetadata) -> asyncio.Future[RecordMetadata]:
    """The record is in the log already: its future is resolved at once."""
    future: asyncio.Future[RecordMetadata] = asyncio.get_running_loop().create_future()
    future.set_result(metadata)
    return future
