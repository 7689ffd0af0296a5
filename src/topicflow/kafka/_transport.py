"""The seam between topicflow and a Kafka client, on the aiokafka side.

The broker and its subscribers talk to Kafka only through the small
``Transport`` and ``ConsumerTransport`` interfaces of :mod:`topicflow.kafka._seam`.
:class:`AiokafkaTransport` implements them with aiokafka, and this is the one
module of the package that imports aiokafka: the client's record types are
re-exported from here, and its errors are translated into topicflow's exception
tree here. The in-memory test broker implements the same interfaces.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from typing import TYPE_CHECKING, Any

import aiokafka
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import (
    CommitFailedError,
    ConsumerStoppedError,
    IllegalStateError,
    KafkaConnectionError,
    KafkaError,
    KafkaTimeoutError,
    NoOffsetForPartitionError,
    TopicAlreadyExistsError,
)
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.structs import ConsumerRecord, RecordMetadata, TopicPartition

from topicflow.exceptions import (
    CommitError,
    KafkaAuthenticationError,
    KafkaCertificateError,
    KafkaUnavailableError,
    PublishError,
    SetupError,
)
from topicflow.kafka._options import ConnectionOptions, ConsumerSpec
from topicflow.kafka._seam import ConsumerStopped
from topicflow.kafka._unreadable import read_past

if TYPE_CHECKING:
    from topicflow.kafka._seam import ConsumerTransport, RebalanceHandler

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from topicflow.kafka.topic import Topic

__all__ = [
    "AiokafkaTransport",
    "ConnectionOptions",
    "ConsumerRecord",
    "ConsumerSpec",
    "RecordMetadata",
    "TopicPartition",
]

Headers = list[tuple[str, bytes]]


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
    first: asyncio.Future[RecordMetadata] = asyncio.get_running_loop().create_future()

    def all_done(gathered: asyncio.Future[list[RecordMetadata]]) -> None:
        if first.done():
            return
        if gathered.cancelled():
            first.cancel()
        elif (exc := gathered.exception()) is not None:
            first.set_exception(exc)
        else:
            first.set_result(gathered.result()[0])

    asyncio.gather(*futures).add_done_callback(all_done)
    return first


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
        if refusals.certificate is not None:
            raise _untrusted(options, refusals.certificate) from refusals.certificate
        if refusals.reason is not None:
            raise _refused(options, refusals.reason) from exc
        raise _unavailable(options, exc if not isinstance(exc, TimeoutError) else None) from exc
    finally:
        client_logger.removeHandler(refusals)


class _AuthRefusals(logging.Handler):
    """Catches the broker's refusal of our credentials, and the TLS verification
    error of its certificate, which aiokafka only logs before it raises a generic
    "Unable to bootstrap"."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.reason: str | None = None
        self.certificate: ssl.SSLCertVerificationError | None = None

    def emit(self, record: logging.LogRecord) -> None:
        # aiokafka logs the connect error as an argument: the object itself, whose
        # verify_code tells an unknown CA from a wrong host name.
        args = record.args if isinstance(record.args, tuple) else ()
        for arg in args:
            if isinstance(arg, ssl.SSLCertVerificationError):
                self.certificate = arg
                return
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


# OpenSSL's X509_V_ERR_* codes of SSLCertVerificationError.verify_code.
_WRONG_HOST = {62, 64}  # HOSTNAME_MISMATCH, IP_ADDRESS_MISMATCH
_UNKNOWN_CA = {2, 18, 19, 20, 21}  # no trusted issuer, self-signed, ...


def _untrusted(
    options: ConnectionOptions, error: ssl.SSLCertVerificationError
) -> KafkaCertificateError:
    reason = f"certificate verify failed: {error.verify_message}".rstrip(".")
    if error.verify_code in _WRONG_HOST:
        problem = "a TLS certificate that does not name the host connected to"
        fix = (
            "Connect with a host name or IP address the certificate names (its "
            "subjectAltName), in bootstrap_servers and the brokers' advertised.listeners, "
            "or have the certificate issued for this name."
        )
    elif error.verify_code in _UNKNOWN_CA:
        problem = "a TLS certificate signed by a CA that the ssl_context does not trust"
        fix = (
            "Give KafkaBroker(security=...) an ssl_context that trusts the cluster's CA: "
            "ssl.create_default_context(cafile='<the CA file>')."
        )
    else:
        problem = "a TLS certificate that did not verify"
        fix = "Check the broker's certificate (its dates) and the CA file of the ssl_context."
    return KafkaCertificateError(
        f"Kafka at {options.servers_text} presented {problem} ({reason}). {fix}",
        bootstrap_servers=options.servers_text,
    )


async def _close_quietly(client: Any) -> None:
    with contextlib.suppress(KafkaError, OSError):  # already broken; the caller reports why
        await client.stop()


class _Listener(aiokafka.ConsumerRebalanceListener):
    def __init__(
        self, handler: RebalanceHandler, consumer: Any, positions: dict[TopicPartition, int]
    ) -> None:
        self._handler = handler
        self._consumer = consumer
        self._positions = positions

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self._handler.on_revoked(set(revoked))

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        # Fix each position now: aiokafka would otherwise resolve auto_offset_reset
        # ("latest") on the first fetch, after start() returned, and a message
        # published in between would be skipped.
        for tp in assigned:
            # No offset to start from (auto_offset_reset="none"): the fetch reports it.
            with contextlib.suppress(IllegalStateError, NoOffsetForPartitionError):
                self._positions[tp] = await self._consumer.position(tp)
        await self._handler.on_assigned(set(assigned))


class _AiokafkaConsumer:
    def __init__(
        self, transport: AiokafkaTransport, spec: ConsumerSpec, rebalance: RebalanceHandler
    ) -> None:
        self._transport = transport
        self._options = transport._options
        self._spec = spec
        self._rebalance = rebalance
        self._reset = spec.options.get("auto_offset_reset", "latest")
        self._consumer: Any = None
        #: Per partition, the offset after the last record handed out (or sought to):
        #: where to read again from when a fetch fails half way.
        self._next: dict[TopicPartition, int] = {}

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
        listener = _Listener(self._rebalance, consumer, self._next)
        if spec.partitions:
            consumer.assign(list(spec.partitions))
            for tp in spec.partitions:  # fixed now, as the listener does for a group
                with contextlib.suppress(IllegalStateError, NoOffsetForPartitionError):
                    self._next[tp] = await consumer.position(tp)
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
            await read_past(consumer, exc, self._next, self.seek)
        except NoOffsetForPartitionError as exc:
            raise SetupError(
                f"{exc.args[0] if exc.args else 'a partition'} has no committed offset in "
                f"group {self._spec.group_id!r}, and auto_offset_reset={self._reset!r} gives "
                "no other place to start: use auto_offset_reset='earliest' or 'latest', or "
                "commit a starting offset for the group"
            ) from exc
        except ConsumerStoppedError as exc:
            raise ConsumerStopped from exc
        except KafkaConnectionError as exc:
            raise _unavailable(self._options, exc) from exc
        following = self._next
        for tp, records in batches.items():
            if records:
                following[tp] = records[-1].offset + 1
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
                self._next[tp] = offset

    def pause(self, tp: TopicPartition) -> None:
        if self._consumer is not None:
            with contextlib.suppress(IllegalStateError):
                self._consumer.pause(tp)

    def resume(self, tp: TopicPartition) -> None:
        if self._consumer is not None:
            with contextlib.suppress(IllegalStateError):
                self._consumer.resume(tp)
