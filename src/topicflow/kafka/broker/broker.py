"""KafkaBroker: the connection, its subscribers and publishers, and publishing."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Literal, overload

from topicflow.ack import AckPolicy
from topicflow.exceptions import SetupError
from topicflow.kafka._loop import Backoff
from topicflow.kafka._transport import AiokafkaTransport, ConnectionOptions
from topicflow.kafka.broker.registrator import AnySubscriber, KafkaRegistrator
from topicflow.kafka.publisher import PublishCommand, send

if TYPE_CHECKING:
    import asyncio
    from collections.abc import Iterable, Mapping
    from types import TracebackType

    from topicflow.kafka._transport import RecordMetadata, Transport

__all__ = ["KafkaBroker"]

_DEFAULT_LOGGER = logging.getLogger("topicflow")


class KafkaBroker(KafkaRegistrator):
    """A Kafka cluster connection with the subscribers and publishers declared on it.

    Args:
        bootstrap_servers: ``"host:port"``, a comma-separated list, or a list of them.
        request_timeout_ms: bound for every request, and for connecting at start.
        acks: producer acknowledgement: ``"all"`` (the default: a record counts as
            published once every in-sync replica has it), ``1`` or ``0``.
        graceful_timeout: seconds that in-flight handlers get to finish on
            ``stop()`` and on partition revoke.
        ack_policy: the default :class:`~topicflow.AckPolicy` of its subscribers.
        nack_backoff: delays before a nacked message is delivered again; they
            grow with each attempt (default ``Backoff(0.1, 2.0, 5.0)`` seconds).
        logger: where the framework logs; ``None`` silences it.
        log_level: the level of per-message log lines.

    The other arguments are the aiokafka producer and client settings of the
    same names, passed on unchanged.
    """

    def __init__(
        self,
        bootstrap_servers: str | Iterable[str] = "localhost",
        *,
        request_timeout_ms: int = 40_000,
        retry_backoff_ms: int = 100,
        metadata_max_age_ms: int = 300_000,
        connections_max_idle_ms: int = 540_000,
        client_id: str | None = None,
        acks: Literal[0, 1, -1, "all"] = "all",
        compression_type: Literal["gzip", "snappy", "lz4", "zstd"] | None = None,
        max_batch_size: int = 16_384,
        linger_ms: int = 0,
        max_request_size: int = 1_048_576,
        enable_idempotence: bool = False,
        transactional_id: str | None = None,
        graceful_timeout: float = 15.0,
        ack_policy: AckPolicy = AckPolicy.ACK,
        nack_backoff: Backoff | None = None,
        logger: logging.Logger | None = _DEFAULT_LOGGER,
        log_level: int = logging.INFO,
    ) -> None:
        servers = (
            bootstrap_servers if isinstance(bootstrap_servers, str) else list(bootstrap_servers)
        )
        if not servers:
            raise SetupError("bootstrap_servers is empty; give at least one 'host:port'")
        if graceful_timeout <= 0:
            raise SetupError(f"graceful_timeout must be positive, got {graceful_timeout}")
        producer: dict[str, Any] = {
            "acks": acks,
            "compression_type": compression_type,
            "max_batch_size": max_batch_size,
            "linger_ms": linger_ms,
            "max_request_size": max_request_size,
            "enable_idempotence": enable_idempotence,
            "transactional_id": transactional_id,
        }
        self.options = ConnectionOptions(
            bootstrap_servers=servers,
            client_id=client_id,
            request_timeout_ms=request_timeout_ms,
            retry_backoff_ms=retry_backoff_ms,
            metadata_max_age_ms=metadata_max_age_ms,
            connections_max_idle_ms=connections_max_idle_ms,
            producer=producer,
        )
        super().__init__()
        self.graceful_timeout = graceful_timeout
        self.nack_backoff = nack_backoff or Backoff()
        self.ack_policy = ack_policy
        self.logger = logger
        self.log_level = log_level
        self._transport: Transport | None = None
        self._running = False

    def _owner(self) -> KafkaBroker:
        return self

    # -- lifecycle -------------------------------------------------------------

    async def connect(self) -> None:
        """Connect the producer. Raises KafkaUnavailableError within request_timeout_ms."""
        if self._transport is None:
            transport = self._make_transport()
            await transport.connect()
            self._transport = transport

    async def start(self) -> None:
        """Connect, then start every subscriber (each joins its group)."""
        await self.connect()
        if self._running:
            return
        self._running = True
        started: list[AnySubscriber] = []
        try:
            for sub in list(self.subscribers):
                await sub.start()
                started.append(sub)
        except BaseException:
            for sub in reversed(started):
                await sub.stop()
            self._running = False
            raise

    async def stop(self) -> None:
        """Stop subscribers gracefully (commit what finished), then flush and close."""
        for sub in reversed(list(self.subscribers)):
            await sub.stop()
        self._running = False
        transport, self._transport = self._transport, None
        if transport is not None:
            await transport.close()

    async def ping(self, timeout: float | None = None) -> bool:
        """True when the cluster answers within ``timeout`` seconds."""
        if self._transport is None:
            return False
        bound = timeout if timeout is not None else self.options.request_timeout_ms / 1000
        return await self._transport.ping(bound)

    async def __aenter__(self) -> KafkaBroker:
        await self.connect()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # -- publishing ------------------------------------------------------------

    @overload
    async def publish(
        self,
        message: Any = None,
        topic: str = "",
        *,
        key: Any = None,
        partition: int | None = None,
        timestamp_ms: int | None = None,
        headers: Mapping[str, str | bytes] | None = None,
        correlation_id: str | None = None,
        reply_to: str = "",
        no_confirm: Literal[False] = False,
    ) -> RecordMetadata: ...

    @overload
    async def publish(
        self,
        message: Any = None,
        topic: str = "",
        *,
        key: Any = None,
        partition: int | None = None,
        timestamp_ms: int | None = None,
        headers: Mapping[str, str | bytes] | None = None,
        correlation_id: str | None = None,
        reply_to: str = "",
        no_confirm: Literal[True],
    ) -> asyncio.Future[RecordMetadata]: ...

    async def publish(
        self,
        message: Any = None,
        topic: str = "",
        *,
        key: Any = None,
        partition: int | None = None,
        timestamp_ms: int | None = None,
        headers: Mapping[str, str | bytes] | None = None,
        correlation_id: str | None = None,
        reply_to: str = "",
        no_confirm: bool = False,
    ) -> RecordMetadata | asyncio.Future[RecordMetadata]:
        """Publish one message.

        Returns the record's ``RecordMetadata`` once the cluster acknowledged it,
        or with ``no_confirm=True`` a future of it as soon as it is queued.
        """
        if not topic:
            raise SetupError("publish() needs a topic: broker.publish(body, 'orders')")
        return await self._send(
            PublishCommand(
                body=message,
                topic=topic,
                key=key,
                partition=partition,
                timestamp_ms=timestamp_ms,
                headers=headers or {},
                correlation_id=correlation_id,
                reply_to=reply_to,
                no_confirm=no_confirm,
            )
        )

    async def _send(self, cmd: PublishCommand) -> RecordMetadata | asyncio.Future[RecordMetadata]:
        return await send(self._transport_or_raise(), cmd)

    def _transport_or_raise(self) -> Transport:
        if self._transport is None:
            raise SetupError(
                "the broker is not connected: use 'async with broker:', "
                "'await broker.connect()' or 'await broker.start()' first"
            )
        return self._transport

    def _make_transport(self) -> Transport:
        return AiokafkaTransport(self.options, self.logger)

    def __repr__(self) -> str:
        return f"<KafkaBroker {self.options.servers_text}>"
