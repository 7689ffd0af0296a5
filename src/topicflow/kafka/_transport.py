"""The seam between topicflow and a Kafka client, on the aiokafka side.

The broker and its subscribers talk to Kafka only through the small
``Transport`` and ``ConsumerTransport`` interfaces of :mod:`topicflow.kafka._seam`.
:class:`AiokafkaTransport` implements them with aiokafka, and this is the one
module of the package that imports aiokafka: the client's record types are
re-exported from here, and its errors are translated into topicflow's exception
tree here: ``CLIENT_ERRORS`` lists, per operation, the client errors it can
raise and the rule of :mod:`topicflow.kafka._errors` each follows. The
in-memory test broker implements the same interfaces.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import logging
from typing import TYPE_CHECKING, Any

import aiokafka
from aiokafka import codec
from aiokafka import errors as kafka_errors
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import (
    ConsumerStoppedError,
    IllegalStateError,
    KafkaConnectionError,
    KafkaError,
    NoOffsetForPartitionError,
)
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.protocol.fetch import FetchRequest
from aiokafka.structs import ConsumerRecord, RecordMetadata, TopicPartition

from topicflow.exceptions import (
    CommitError,
    PublishError,
    TopicflowError,
)
from topicflow.kafka import _client_logs, _errors
from topicflow.kafka._errors import facts as _facts
from topicflow.kafka._futures import first_of
from topicflow.kafka._options import ConnectionOptions, ConsumerSpec
from topicflow.kafka._refusals import AuthRefusals, refused, untrusted
from topicflow.kafka._seam import ConsumerStopped
from topicflow.kafka._unreadable import read_past

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from topicflow.kafka._seam import ConsumerTransport, RebalanceHandler
    from topicflow.kafka.topic import Topic

__all__ = [
    "CLIENT_ERRORS",
    "AiokafkaTransport",
    "ConnectionOptions",
    "ConsumerRecord",
    "ConsumerSpec",
    "DRIVER_CONSUMER",
    "RecordMetadata",
    "TopicPartition",
    "translate",
]

Headers = list[tuple[str, bytes]]


def _classes(names: str) -> tuple[type[BaseException], ...]:
    return tuple(getattr(kafka_errors, n, None) or getattr(builtins, n) for n in names.split())


#: ``topicflow.kafka._errors.CLIENT_ERRORS`` with the client's classes: per operation,
#: the client errors it can raise, by the rule each one follows.
CLIENT_ERRORS = {
    operation: {rule: _classes(names) for rule, names in rules.items()}
    for operation, rules in _errors.CLIENT_ERRORS.items()
}
_RULE_OF = {
    operation: {error: rule for rule, errors in rules.items() for error in errors}
    for operation, rules in CLIENT_ERRORS.items()
}
#: A topic's error code in a CreateTopics answer that means it exists now.
_CREATED = (kafka_errors.NoError, kafka_errors.TopicAlreadyExistsError)
#: What the producer's calls and its futures can fail with (besides asyncio's).
_PRODUCER_FAILURES = (kafka_errors.KafkaError, kafka_errors.IllegalOperation, AssertionError)


def translate(operation: str, exc: BaseException, facts: Mapping[str, Any]) -> TopicflowError:
    """The topicflow error of ``exc``, raised by the client in ``operation`` (a key of
    ``CLIENT_ERRORS``); a topicflow error stays as it is."""
    return _errors.translate(_RULE_OF[operation], operation, exc, facts)


def _unavailable(options: ConnectionOptions, exc: BaseException | None) -> TopicflowError:
    # None: no answer within request_timeout_ms.
    return translate("connect", exc if exc is not None else TimeoutError(), _facts(options))


def _client(factory: Any, options: ConnectionOptions, **settings: Any) -> Any:
    """A client made with ``settings``; a setting it refuses is a SetupError."""
    try:
        return factory(**settings)
    except (ValueError, TypeError, RuntimeError) as exc:
        raise translate("connect", exc, _facts(options)) from exc


class AiokafkaTransport:
    """:class:`Transport` over aiokafka's producer and consumers."""

    def __init__(self, options: ConnectionOptions, logger: logging.Logger | None = None) -> None:
        self._options = options
        self._logger = logger
        self._producer: Any = None
        #: The producer's client, or with ``consumer_only`` a client of its own.
        self._client: Any = None
        _client_logs.install((kafka_errors.GroupCoordinatorNotAvailableError,))

    async def connect(self) -> None:
        if self._producer is not None or self._client is not None:
            return
        if self._options.consumer_only:
            # No producer: a bare client checks the cluster answers, and serves ping().
            client = _client(
                aiokafka.AIOKafkaClient, self._options, **self._options.client_kwargs()
            )
            await _start_bounded(_Bootstrap(client), self._options)
            self._client = client
            return
        producer = _client(
            aiokafka.AIOKafkaProducer,
            self._options,
            **self._options.client_kwargs(),
            **dict(self._options.producer),
        )
        try:
            await _start_bounded(producer, self._options)
        except asyncio.CancelledError:  # App(wait_for_broker=...) ran out meanwhile
            await _close_quietly(producer)
            raise
        self._producer = producer
        self._client = producer.client

    async def close(self) -> None:
        producer, self._producer = self._producer, None
        client, self._client = self._client, None
        if producer is not None:
            await producer.stop()
        elif client is not None:
            await client.close()

    async def ping(self, timeout: float) -> bool:
        if self._client is None:
            return False
        try:
            async with asyncio.timeout(timeout):
                await self._client.fetch_all_metadata()
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
            raise translate("send", kafka_errors.ProducerClosed(), _facts(self._options, topic))
        try:
            future: asyncio.Future[RecordMetadata] = await self._producer.send(
                topic,
                value,
                key=key,
                partition=partition,
                timestamp_ms=timestamp_ms,
                headers=headers,
            )
        except _PRODUCER_FAILURES as exc:
            raise translate("send", exc, _facts(self._options, topic)) from exc
        return future

    async def confirm(self, topic: str, future: asyncio.Future[RecordMetadata]) -> RecordMetadata:
        # An idempotent producer retries a record until the cluster takes it, so the
        # wait is bounded here, as the client bounds it without idempotence.
        try:
            async with asyncio.timeout(self._options.request_timeout_ms / 1000):
                return await future
        except TopicflowError:
            raise
        except (*_PRODUCER_FAILURES, TimeoutError) as exc:
            raise self.failure(topic, exc) from exc

    def failure(self, topic: str, exc: BaseException) -> BaseException:
        if isinstance(exc, (*_PRODUCER_FAILURES, TimeoutError)):
            return translate("confirm", exc, _facts(self._options, topic))
        return exc

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
            closed = kafka_errors.ProducerClosed()
            raise translate("send_batch", closed, _facts(self._options, topic))
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
        except _PRODUCER_FAILURES as exc:
            raise translate("send_batch", exc, _facts(self._options, topic)) from exc
        return first_of(futures)

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
        admin = _client(AIOKafkaAdminClient, self._options, **self._options.client_kwargs())
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
                    answer = await admin.create_topics(missing)
                    # The client returns each topic's error rather than raising it.
                    for name, code, *message in answer.topic_errors:
                        error = kafka_errors.for_code(code)
                        if error not in _CREATED:
                            raise error(f"{name}: {message[0]}" if message and message[0] else name)
        except (kafka_errors.KafkaError, OSError, TimeoutError) as exc:
            names = [str(t) for t in topics]
            raise translate("create_topics", exc, _facts(self._options, str(names))) from exc
        finally:
            with contextlib.suppress(KafkaError, OSError):
                await admin.close()

    async def ensure_topics(self, topics: Sequence[str]) -> None:
        """Wait until ``topics`` have partitions, letting the cluster auto-create them (the
        consumer looks again at a missing topic only after ``metadata_max_age_ms``)."""
        producer = self._producer
        if producer is None or not self._options.allow_auto_create_topics:
            return
        for topic in topics:
            try:
                async with asyncio.timeout(self._options.request_timeout_ms / 1000):
                    await producer.partitions_for(topic)
            except (TimeoutError, KafkaError) as exc:
                if self._logger is not None:
                    self._logger.warning(
                        "topic %r does not exist and the cluster did not create it (%r); the "
                        "subscriber starts anyway and picks it up within metadata_max_age_ms "
                        "once it exists. Create the topic, or enable auto.create.topics.enable.",
                        topic,
                        exc,
                    )


async def _start_bounded(client: Any, options: ConnectionOptions) -> None:
    """Start an aiokafka client, failing within the request timeout, never hanging."""
    refusals = AuthRefusals()
    client_logger = logging.getLogger("aiokafka")
    client_logger.addHandler(refusals)
    try:
        async with asyncio.timeout(options.request_timeout_ms / 1000):
            await client.start()
    except (TimeoutError, KafkaConnectionError, KafkaError, OSError) as exc:
        await _close_quietly(client)
        if refusals.certificate is not None:
            raise untrusted(options, refusals.certificate) from refusals.certificate
        if refusals.reason is not None:
            raise refused(options, refusals.reason) from exc
        raise _unavailable(options, exc if not isinstance(exc, TimeoutError) else None) from exc
    finally:
        client_logger.removeHandler(refusals)


class _Bootstrap:
    """A bare client as ``_start_bounded`` starts and stops clients."""

    def __init__(self, client: Any) -> None:
        self._client = client

    async def start(self) -> None:
        await self._client.bootstrap()

    async def stop(self) -> None:
        await self._client.close()


async def _close_quietly(client: Any) -> None:
    with contextlib.suppress(KafkaError, OSError):  # already broken; the caller reports why
        await client.stop()


class _Listener(aiokafka.ConsumerRebalanceListener):
    def __init__(self, handler: RebalanceHandler, consumer: Any, owner: _AiokafkaConsumer) -> None:
        self._handler = handler
        self._consumer = consumer
        self._owner = owner

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self._handler.on_revoked(set(revoked))

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        # Fix each position now: aiokafka would otherwise resolve auto_offset_reset
        # ("latest") on the first fetch, after start() returned, and a message
        # published in between would be skipped.
        for tp in assigned:
            try:
                self._owner.positions[tp] = await self._consumer.position(tp)
            except (IllegalStateError, NoOffsetForPartitionError):
                pass  # revoked meanwhile, or no offset to start from: the fetch reports it
            except kafka_errors.KafkaError as exc:
                self._owner.warn(translate("position", exc, self._owner.facts))
        await self._handler.on_assigned(set(assigned))


#: The record batch compression codecs of Kafka's attributes, as the client decodes them.
_CODECS = {1: codec.gzip_decode, 2: codec.snappy_decode, 3: codec.lz4_decode, 4: codec.zstd_decode}
DRIVER_CONSUMER = aiokafka.AIOKafkaConsumer  # a handler's bare annotation: annotations.Consumer


class _AiokafkaConsumer:
    #: For :func:`read_past`: the client's record type, and its decompressors.
    record_type = ConsumerRecord
    decompress = staticmethod(lambda kind, data: bytes(_CODECS[kind](data)))

    def __init__(
        self, transport: AiokafkaTransport, spec: ConsumerSpec, rebalance: RebalanceHandler
    ) -> None:
        self._transport = transport
        self._options = transport._options
        self._spec = spec
        self._rebalance = rebalance
        self.facts = _facts(self._options, spec=spec)
        self._consumer: Any = None
        #: Per partition, the offset after the last record handed out (or sought to):
        #: where to read again from when a fetch fails half way.
        self.positions: dict[TopicPartition, int] = {}

    @property
    def driver(self) -> Any:
        """aiokafka's consumer (``Context("handler_.consumer")``), once started."""
        return self._consumer

    def warn(self, error: TopicflowError) -> None:
        if self._transport._logger is not None:
            self._transport._logger.warning("%s; the fetch tries again", error)

    async def start(self) -> None:
        spec = self._spec
        await self._transport.ensure_topics(
            spec.topics or sorted({tp.topic for tp in spec.partitions})
        )
        consumer = _client(
            aiokafka.AIOKafkaConsumer,
            self._options,
            **self._options.client_kwargs(),
            group_id=spec.group_id,
            **{**self._options.consumer, **spec.options},
            # Offsets are committed by topicflow's tracker, never by a timer.
            enable_auto_commit=False,
        )
        await _start_bounded(consumer, self._options)
        listener = _Listener(self._rebalance, consumer, self)
        if spec.partitions:
            consumer.assign(list(spec.partitions))
            for tp in spec.partitions:  # fixed now, as the listener does for a group
                try:
                    self.positions[tp] = await consumer.position(tp)
                except NoOffsetForPartitionError:
                    pass  # no offset to start from: the fetch reports it
                except kafka_errors.KafkaError as exc:
                    raise translate("position", exc, self.facts) from exc
        elif spec.pattern is not None:
            consumer.subscribe(pattern=spec.pattern, listener=listener)
        else:
            consumer.subscribe(topics=list(spec.topics), listener=listener)
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
        except UnicodeDecodeError as exc:
            # A record aiokafka cannot read (it decodes header keys as UTF-8).
            await read_past(consumer, exc, self)
        except ConsumerStoppedError as exc:
            raise ConsumerStopped from exc
        except KafkaError as exc:
            raise translate("getmany", exc, self.facts) from exc
        following = self.positions
        for tp, records in batches.items():
            if records:
                following[tp] = records[-1].offset + 1
        return batches

    async def batch_bytes(self, tp: TopicPartition, offset: int) -> bytes:
        """What the leader of ``tp`` answers one Fetch from ``offset`` with: the bytes of
        the record batch holding it, and maybe more (aiokafka cannot read past a bad
        header key; ``_unreadable.parse_batch`` can)."""
        client, limit = self._consumer._client, 4 * 1024 * 1024
        request = FetchRequest(0, 1, limit, 0, [(tp.topic, [(tp.partition, offset, limit)])])
        try:
            response = await client.send(client.cluster.leader_for_partition(tp), request)
        except (KafkaError, AssertionError) as exc:
            raise translate("getmany", exc, self.facts) from exc
        return b"".join(bytes(a[-1] or b"") for _, answers in response.topics for a in answers)

    async def commit(self, offsets: Mapping[TopicPartition, int]) -> None:
        if self._consumer is None:
            raise CommitError("the consumer is stopped; nothing was committed")
        try:
            await self._consumer.commit(dict(offsets))
        except (KafkaError, kafka_errors.IllegalOperation) as exc:
            raise translate("commit", exc, self.facts) from exc

    # A partition revoked in the meantime is no longer ours to move: nothing to do.
    def seek(self, tp: TopicPartition, offset: int) -> None:
        if self._consumer is not None:
            with contextlib.suppress(IllegalStateError):
                self._consumer.seek(tp, offset)
                self.positions[tp] = offset

    def pause(self, tp: TopicPartition) -> None:
        if self._consumer is not None:
            with contextlib.suppress(IllegalStateError):
                self._consumer.pause(tp)

    def resume(self, tp: TopicPartition) -> None:
        if self._consumer is not None:
            with contextlib.suppress(IllegalStateError):
                self._consumer.resume(tp)

    def ends(self) -> Mapping[TopicPartition, int | None]:
        consumer = self._consumer
        if consumer is None:
            return {}
        stable = self._spec.options.get("isolation_level") == "read_committed"  # LSO is its end
        end = consumer.last_stable_offset if stable else consumer.highwater
        return {tp: end(tp) for tp in consumer.assignment()}
