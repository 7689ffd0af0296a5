"""The seam between topicflow and a Kafka client: the interfaces.

The broker and its subscribers talk to Kafka only through :class:`Transport`
(one producer, and consumers on demand) and :class:`ConsumerTransport` (one
consumer). ``topicflow.kafka._transport.AiokafkaTransport`` implements them with
aiokafka; ``topicflow.kafka._memory.MemoryTransport`` over an in-memory Kafka.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import asyncio
    from collections.abc import Mapping, Sequence

    from topicflow.kafka._options import ConsumerSpec
    from topicflow.kafka._transport import ConsumerRecord, RecordMetadata, TopicPartition
    from topicflow.kafka.topic import Topic

__all__ = [
    "ConsumerStopped",
    "ConsumerTransport",
    "RebalanceHandler",
    "Transport",
    "UnreadableRecord",
]

Headers = list[tuple[str, bytes]]


class ConsumerStopped(Exception):
    """``getmany`` was called on a consumer that is stopping or stopped."""


class UnreadableRecord(Exception):
    """``getmany`` met records the client cannot read (a header key that is not UTF-8).

    ``records`` are the records of ``tp`` from where the last ``getmany`` left it
    to the end of the bad records' batch, in offset order, each read again
    (by the client, or from the batch's bytes): a record, or None for one that
    cannot become a message. The consumer is positioned after them, and every
    other partition back where the last ``getmany`` left it.
    """

    def __init__(
        self,
        tp: TopicPartition,
        records: Sequence[tuple[int, ConsumerRecord[bytes, bytes] | None]],
        reason: str,
    ) -> None:
        bad = [offset for offset, record in records if record is None]
        super().__init__(f"{tp.topic}[{tp.partition}]@{bad}: {reason}")
        self.tp = tp
        self.records = records
        self.reason = reason


class RebalanceHandler(Protocol):
    """Called by a consumer when its group assignment changes."""

    async def on_revoked(self, revoked: set[TopicPartition]) -> None:
        """Partitions are about to be taken away: finish and commit them."""

    async def on_assigned(self, assigned: set[TopicPartition]) -> None:
        """Partitions were handed to this consumer."""


class ConsumerTransport(Protocol):
    """One Kafka consumer, as the subscriber sees it."""

    async def start(self) -> None:
        """Connect and subscribe; raises KafkaUnavailableError."""

    async def stop(self) -> None:
        """Leave the group and close. Commits nothing by itself."""

    async def getmany(
        self, timeout_ms: int, max_records: int | None
    ) -> Mapping[TopicPartition, Sequence[ConsumerRecord[bytes, bytes]]]:
        """Fetched records by partition; empty after ``timeout_ms`` without data.

        Raises UnreadableRecord for a record the client cannot read.
        """

    async def commit(self, offsets: Mapping[TopicPartition, int]) -> None:
        """Commit exactly these positions; raises CommitError."""

    def seek(self, tp: TopicPartition, offset: int) -> None:
        """Make ``offset`` the next record fetched from ``tp``."""

    def pause(self, tp: TopicPartition) -> None:
        """Stop fetching ``tp`` until :meth:`resume`."""

    def resume(self, tp: TopicPartition) -> None:
        """Fetch ``tp`` again."""

    def ends(self) -> Mapping[TopicPartition, int | None]:
        """Each partition assigned now, with its end offset as the last fetch response
        told it (the high watermark; the last stable offset under ``read_committed``),
        None before one did. What the client knows already: no request is made."""


class Transport(Protocol):
    """The broker's connection to Kafka: one producer, and consumers on demand."""

    async def connect(self) -> None:
        """Start the producer; raises KafkaUnavailableError, bounded by the request timeout."""

    async def close(self) -> None:
        """Flush and close the producer."""

    async def ping(self, timeout: float) -> bool:
        """True when the cluster answers a metadata request within ``timeout`` seconds."""

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
        """Queue a record; the future resolves when the cluster acknowledged it.

        Its failure is the client's: await it with :meth:`confirm`, or hand it
        on as ``topicflow.kafka._futures.Confirmation(transport, topic, future)``.
        """

    async def confirm(self, topic: str, future: asyncio.Future[RecordMetadata]) -> RecordMetadata:
        """Wait for the future of a record sent to ``topic``; raises PublishError (or
        PublishTimeout when the cluster does not confirm within the request timeout)."""

    def failure(self, topic: str, exc: BaseException) -> BaseException:
        """What the failure ``exc`` of a record sent to ``topic`` is as a topicflow error
        (``exc`` itself when it is one already, or not the client's)."""

    async def send_batch(
        self,
        topic: str,
        records: Sequence[tuple[bytes | None, bytes | None, Headers]],
        *,
        partition: int | None,
        timestamp_ms: int | None,
    ) -> asyncio.Future[RecordMetadata]:
        """Queue ``(value, key, headers)`` records as one batch to one partition.

        Without ``partition``: the first key's partition, else a random one.
        The future resolves to the metadata of the batch's first record.
        """

    async def flush(self) -> None:
        """Send everything queued now and wait for it."""

    def consumer(self, spec: ConsumerSpec, rebalance: RebalanceHandler) -> ConsumerTransport:
        """A new, unstarted consumer."""

    async def create_topics(self, topics: Sequence[Topic]) -> None:
        """Create the declared topics that do not exist yet; leave the others alone."""
