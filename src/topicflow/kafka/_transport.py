"""The seam between topicflow and a Kafka client.

The broker and its subscribers talk to Kafka only through the small
:class:`Transport` and :class:`ConsumerTransport` interfaces below.
:class:`AiokafkaTransport` implements them with aiokafka, and this is the one
module of the package that imports aiokafka: client errors are translated into
topicflow's exception tree here. The in-memory test broker implements the same
interfaces.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import aiokafka
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import (
    CommitFailedError,
    ConsumerStoppedError,
    IllegalStateError,
    KafkaConnectionError,
    KafkaError,
    KafkaTimeoutError,
    TopicAlreadyExistsError,
)
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.structs import ConsumerRecord, RecordMetadata, TopicPartition

from topicflow.exceptions import (
    CommitError,
    KafkaAuthenticationError,
    KafkaUnavailableError,
    PublishError,
    SetupError,
)

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from topicflow.kafka.topic import Topic
    from topicflow.security import BaseSecurity

__all__ = [
    "AiokafkaTransport",
    "ConnectionOptions",
    "ConsumerRecord",
    "ConsumerSpec",
    "ConsumerStopped",
    "ConsumerTransport",
    "RebalanceHandler",
    "RecordMetadata",
    "TopicPartition",
    "Transport",
]

Headers = list[tuple[str, bytes]]


class ConsumerStopped(Exception):
    """``getmany`` was called on a consumer that is stopping or stopped."""


@dataclass(frozen=True, slots=True)
class ConnectionOptions:
    """How to reach the cluster, and producer settings. Passed to the client as is."""

    bootstrap_servers: str | Sequence[str] = "localhost"
    client_id: str | None = None
    request_timeout_ms: int = 40_000
    retry_backoff_ms: int = 100
    metadata_max_age_ms: int = 300_000
    connections_max_idle_ms: int = 540_000
    #: Producer settings (acks, linger_ms, compression_type, ...), keyword-for-keyword.
    producer: Mapping[str, Any] = field(default_factory=dict)
    #: TLS/SASL settings (``topicflow.security``); None is plain TCP.
    security: BaseSecurity | None = None

    @property
    def servers_text(self) -> str:
        """The bootstrap servers as one comma-separated string, for messages."""
        if isinstance(self.bootstrap_servers, str):
            return self.bootstrap_servers
        return ",".join(self.bootstrap_servers)

    def client_kwargs(self) -> dict[str, Any]:
        """Settings shared by the producer and the consumers."""
        kwargs: dict[str, Any] = {
            "bootstrap_servers": self.bootstrap_servers,
            "request_timeout_ms": self.request_timeout_ms,
            "retry_backoff_ms": self.retry_backoff_ms,
            "metadata_max_age_ms": self.metadata_max_age_ms,
            "connections_max_idle_ms": self.connections_max_idle_ms,
        }
        if self.client_id is not None:
            kwargs["client_id"] = self.client_id
        if self.security is not None:
            kwargs.update(self.security.client_settings())
        return kwargs


@dataclass(frozen=True, slots=True)
class ConsumerSpec:
    """What one subscriber consumes, and the consumer settings it passes through."""

    topics: tuple[str, ...]
    group_id: str | None
    #: Consumer keyword arguments (auto_offset_reset, session_timeout_ms, ...).
    options: Mapping[str, Any] = field(default_factory=dict)
    #: A regex subscription instead of ``topics``.
    pattern: str | None = None
    #: Manual assignment instead of a group subscription.
    partitions: tuple[TopicPartition, ...] = ()


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
        """Fetched records by partition; empty after ``timeout_ms`` without data."""

    async def commit(self, offsets: Mapping[TopicPartition, int]) -> None:
        """Commit exactly these positions; raises CommitError."""

    def seek(self, tp: TopicPartition, offset: int) -> None:
        """Make ``offset`` the next record fetched from ``tp``."""

    def pause(self, tp: TopicPartition) -> None:
        """Stop fetching ``tp`` until :meth:`resume`."""

    def resume(self, tp: TopicPartition) -> None:
        """Fetch ``tp`` again."""


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
        """Queue a record; the future resolves when the cluster acknowledged it."""

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


def _unavailable(options: ConnectionOptions, exc: BaseException | None) -> KafkaUnavailableError:
    reason = f": {exc}" if exc is not None and str(exc) else ""
    return KafkaUnavailableError(
        f"cannot reach Kafka at {options.servers_text}{reason}. Check that the broker "
        "is running and that bootstrap_servers names its advertised host:port "
        "(for a local broker: scripts/kafka start).",
        bootstrap_servers=options.servers_text,
    )


class AiokafkaTransport:
    """:class:`Transport` over aiokafka's producer and consumers."""

    def __init__(self, options: ConnectionOptions, logger: logging.Logger | None = None) -> None:
        self._options = options
        self._logger = logger
        self._producer: Any = None

    async def connect(self) -> None:
        if self._producer is not None:
            return
        producer = aiokafka.AIOKafkaProducer(
            **self._options.client_kwargs(), **dict(self._options.producer)
        )
        await _start_bounded(producer, self._options)
        self._producer = producer

    async def close(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()

    async def ping(self, timeout: float) -> bool:
        if self._producer is None:
            return False
        try:
            async with asyncio.timeout(timeout):
                await self._producer.client.fetch_all_metadata()
        except (TimeoutError, KafkaError):
            return False
        return True

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
        if self._producer is None:
            raise RuntimeError("the transport is not connected")
        try:
            future: asyncio.Future[RecordMetadata] = await self._producer.send(
                topic,
                value,
                key=key,
                partition=partition,
                timestamp_ms=timestamp_ms,
                headers=headers,
            )
        except KafkaTimeoutError as exc:
            raise PublishError(
                f"could not send to {topic!r} within request_timeout_ms "
                f"({self._options.request_timeout_ms} ms): {exc}. Check that the cluster "
                "is reachable and the topic exists."
            ) from exc
        except KafkaError as exc:
            raise PublishError(f"could not send to {topic!r}: {exc}") from exc
        return future

    async def send_batch(
        self,
        topic: str,
        records: Sequence[tuple[bytes | None, bytes | None, Headers]],
        *,
        partition: int | None,
        timestamp_ms: int | None,
    ) -> asyncio.Future[RecordMetadata]:
        producer = self._producer
        if producer is None:
            raise RuntimeError("the transport is not connected")
        try:
            if partition is None:
                partitions = sorted(await producer.partitions_for(topic))
                first_key = records[0][1] if records else None
                partition = DefaultPartitioner()(first_key, partitions, partitions)
            batch = producer.create_batch()
            futures: list[asyncio.Future[RecordMetadata]] = []
            for value, key, headers in records:
                if batch.append(key=key, value=value, timestamp=timestamp_ms, headers=headers):
                    continue
                # The batch is full: send it and go on with a new one.
                futures.append(await producer.send_batch(batch, topic, partition=partition))
                batch = producer.create_batch()
                if not batch.append(key=key, value=value, timestamp=timestamp_ms, headers=headers):
                    raise PublishError(
                        f"a record for {topic!r} is larger than max_batch_size; raise "
                        "max_batch_size or publish it alone"
                    )
            futures.append(await producer.send_batch(batch, topic, partition=partition))
        except KafkaError as exc:
            raise PublishError(f"could not send a batch to {topic!r}: {exc}") from exc
        return _first_of(futures)

    async def flush(self) -> None:
        producer = self._producer
        if producer is None:
            return
        # aiokafka's public flush() only waits, so records still wait out linger_ms.
        # Closing the open batches first sends them now, as Kafka's own flush() does.
        accumulator = getattr(producer, "_message_accumulator", None)
        if accumulator is not None and hasattr(accumulator, "flush_for_commit"):
            await accumulator.flush_for_commit()
        else:
            await producer.flush()

    def consumer(self, spec: ConsumerSpec, rebalance: RebalanceHandler) -> ConsumerTransport:
        return _AiokafkaConsumer(self, spec, rebalance)

    async def create_topics(self, topics: Sequence[Topic]) -> None:
        if not topics:
            return
        admin = AIOKafkaAdminClient(**self._options.client_kwargs())
        try:
            async with asyncio.timeout(self._options.request_timeout_ms / 1000):
                await admin.start()
                existing = set(await admin.list_topics())
                missing = [
                    NewTopic(
                        str(topic),
                        topic.num_partitions,
                        topic.replication_factor,
                        topic_configs=dict(topic.config),
                    )
                    for topic in topics
                    if str(topic) not in existing
                ]
                if missing:
                    await admin.create_topics(missing)
        except TopicAlreadyExistsError:
            pass  # another process created it in between
        except TimeoutError as exc:
            raise _unavailable(self._options, None) from exc
        except KafkaError as exc:
            raise SetupError(
                f"could not create the declared topics {[str(t) for t in topics]}: {exc}. "
                "Check the partition count, replication factor (at most the number of "
                "brokers) and topic config names."
            ) from exc
        finally:
            with contextlib.suppress(KafkaError, OSError):
                await admin.close()

    async def ensure_topics(self, topics: Sequence[str]) -> None:
        """Wait until ``topics`` have partitions, letting the cluster auto-create them.

        aiokafka's consumer does not look again at a topic that was missing when
        it subscribed until ``metadata_max_age_ms`` passes; the producer's
        metadata lookup asks the cluster to create it and waits until it exists.
        """
        producer = self._producer
        if producer is None:
            return
        for topic in topics:
            try:
                async with asyncio.timeout(self._options.request_timeout_ms / 1000):
                    await producer.partitions_for(topic)
            except (TimeoutError, KafkaError) as exc:
                if self._logger is not None:
                    self._logger.warning(
                        "topic %r does not exist and the cluster did not create it (%r); "
                        "the subscriber starts anyway and picks it up within "
                        "metadata_max_age_ms once it exists. Create the topic, or enable "
                        "auto.create.topics.enable on the cluster.",
                        topic,
                        exc,
                    )


def _first_of(futures: list[asyncio.Future[RecordMetadata]]) -> asyncio.Future[RecordMetadata]:
    """One future: done when all are, with the first one's metadata."""
    if len(futures) == 1:
        return futures[0]

    async def wait_all() -> RecordMetadata:
        results = await asyncio.gather(*futures)
        return results[0]

    return asyncio.ensure_future(wait_all())


async def _start_bounded(client: Any, options: ConnectionOptions) -> None:
    """Start an aiokafka client, failing within the request timeout, never hanging."""
    refusals = _AuthRefusals()
    client_logger = logging.getLogger("aiokafka")
    client_logger.addHandler(refusals)
    try:
        async with asyncio.timeout(options.request_timeout_ms / 1000):
            await client.start()
    except (TimeoutError, KafkaConnectionError, KafkaError, OSError) as exc:
        await _close_quietly(client)
        if refusals.reason is not None:
            raise _refused(options, refusals.reason) from exc
        raise _unavailable(options, exc if not isinstance(exc, TimeoutError) else None) from exc
    finally:
        client_logger.removeHandler(refusals)


class _AuthRefusals(logging.Handler):
    """Catches the broker's refusal of our credentials, which aiokafka only logs
    before it raises a generic "Unable to bootstrap"."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.reason: str | None = None

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if "SaslAuthenticationFailed" in text or "Authentication failed" in text:
            self.reason = text.rsplit(": ", 1)[-1] if ": " in text else text


def _refused(options: ConnectionOptions, reason: str) -> KafkaUnavailableError:
    security = options.security
    who = (
        f"user {getattr(security, 'username', '?')!r} with SASL {security.mechanism}"
        if (security is not None and security.mechanism)
        else "the connection"
    )
    return KafkaAuthenticationError(
        f"Kafka at {options.servers_text} refused {who}: {reason}. Check the username and "
        "password, and that the listener accepts this mechanism.",
        bootstrap_servers=options.servers_text,
    )


async def _close_quietly(client: Any) -> None:
    with contextlib.suppress(KafkaError, OSError):  # already broken; the caller reports why
        await client.stop()


class _Listener(aiokafka.ConsumerRebalanceListener):
    def __init__(self, handler: RebalanceHandler, consumer: Any) -> None:
        self._handler = handler
        self._consumer = consumer

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self._handler.on_revoked(set(revoked))

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        # Fix each position now: aiokafka would otherwise resolve auto_offset_reset
        # ("latest") on the first fetch, after start() returned, and a message
        # published in between would be skipped.
        for tp in assigned:
            with contextlib.suppress(IllegalStateError):
                await self._consumer.position(tp)
        await self._handler.on_assigned(set(assigned))


class _AiokafkaConsumer:
    def __init__(
        self, transport: AiokafkaTransport, spec: ConsumerSpec, rebalance: RebalanceHandler
    ) -> None:
        self._transport = transport
        self._options = transport._options
        self._spec = spec
        self._rebalance = rebalance
        self._consumer: Any = None

    async def start(self) -> None:
        spec = self._spec
        await self._transport.ensure_topics(
            spec.topics or sorted({tp.topic for tp in spec.partitions})
        )
        consumer = aiokafka.AIOKafkaConsumer(
            **self._options.client_kwargs(),
            group_id=spec.group_id,
            **dict(spec.options),
            # Offsets are committed by topicflow's tracker, never by a timer.
            enable_auto_commit=False,
        )
        await _start_bounded(consumer, self._options)
        if spec.partitions:
            consumer.assign(list(spec.partitions))
        elif spec.pattern is not None:
            consumer.subscribe(pattern=spec.pattern, listener=_Listener(self._rebalance, consumer))
        else:
            consumer.subscribe(
                topics=list(spec.topics), listener=_Listener(self._rebalance, consumer)
            )
        self._consumer = consumer

    async def stop(self) -> None:
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            await consumer.stop()

    async def getmany(
        self, timeout_ms: int, max_records: int | None
    ) -> Mapping[TopicPartition, Sequence[ConsumerRecord[bytes, bytes]]]:
        consumer = self._consumer
        if consumer is None:
            raise ConsumerStopped
        try:
            batches: Mapping[TopicPartition, Sequence[ConsumerRecord[bytes, bytes]]]
            batches = await consumer.getmany(timeout_ms=timeout_ms, max_records=max_records)
        except ConsumerStoppedError as exc:
            raise ConsumerStopped from exc
        except KafkaConnectionError as exc:
            raise _unavailable(self._options, exc) from exc
        return batches

    async def commit(self, offsets: Mapping[TopicPartition, int]) -> None:
        if self._consumer is None:
            raise CommitError("the consumer is stopped; nothing was committed")
        try:
            await self._consumer.commit(dict(offsets))
        except (CommitFailedError, IllegalStateError, KafkaError) as exc:
            raise CommitError(str(exc)) from exc

    # A partition revoked in the meantime is no longer ours to move: nothing to do.
    def seek(self, tp: TopicPartition, offset: int) -> None:
        if self._consumer is not None:
            with contextlib.suppress(IllegalStateError):
                self._consumer.seek(tp, offset)

    def pause(self, tp: TopicPartition) -> None:
        if self._consumer is not None:
            with contextlib.suppress(IllegalStateError):
                self._consumer.pause(tp)

    def resume(self, tp: TopicPartition) -> None:
        if self._consumer is not None:
            with contextlib.suppress(IllegalStateError):
                self._consumer.resume(tp)
