"""KafkaBroker: the connection, its subscribers and publishers, and publishing."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Literal, overload

from topicflow._context import ContextRepo
from topicflow.ack import AckPolicy
from topicflow.exceptions import SetupError
from topicflow.kafka._loop import Backoff
from topicflow.kafka._replies import ReplyListener
from topicflow.kafka._transport import AiokafkaTransport, ConnectionOptions
from topicflow.kafka.broker.registrator import AnySubscriber, KafkaRegistrator, Scope
from topicflow.kafka.publisher import PublishCommand, send
from topicflow.kafka.topic import Topic
from topicflow.middlewares import wrap_publish

if TYPE_CHECKING:
    import asyncio
    from collections.abc import Callable, Iterable, Mapping, Sequence
    from types import TracebackType

    from topicflow.kafka._subscriber import Subscriber
    from topicflow.kafka._transport import RecordMetadata, Transport
    from topicflow.kafka.message import KafkaMessage
    from topicflow.kafka.publisher import DefaultPublisher
    from topicflow.security import BaseSecurity

__all__ = ["KafkaBroker"]

_DEFAULT_LOGGER = logging.getLogger("topicflow")


class KafkaBroker(KafkaRegistrator):
    """A Kafka cluster connection with the subscribers and publishers declared on it.

    Args:
        bootstrap_servers: ``"host:port"``, a comma-separated list, or a list of them.
        request_timeout_ms: bound for every request, and for connecting at start.
        acks: producer acknowledgement: ``"all"`` (the default: a record counts as
            published once every in-sync replica has it), ``1`` or ``0``.
        security: TLS and SASL settings, e.g. ``SASLScram512("user", "secret",
            use_ssl=True)`` (see :mod:`topicflow.security`).
        graceful_timeout: seconds that in-flight handlers get to finish on
            ``stop()`` and on partition revoke.
        ack_policy: the default :class:`~topicflow.AckPolicy` of its subscribers.
        nack_backoff: delays before a nacked message is delivered again; they
            grow with each attempt (default ``Backoff(0.1, 2.0, 5.0)`` seconds).
        decoder, parser: defaults for every subscriber (routers and subscribers
            may set their own).
        dependencies: run before every handler, first of all.
        middlewares: wrap every consumed message and every publish, outermost.
        routers: routers to include.
        logger: where the framework logs; ``None`` silences it.
        log_level: the level of per-message log lines.
        description, tags, specification_url: for the AsyncAPI document.

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
        security: BaseSecurity | None = None,
        graceful_timeout: float = 15.0,
        ack_policy: AckPolicy = AckPolicy.ACK,
        nack_backoff: Backoff | None = None,
        decoder: Callable[..., Any] | None = None,
        parser: Callable[..., Any] | None = None,
        dependencies: Iterable[Any] = (),
        middlewares: Sequence[Any] = (),
        routers: Iterable[KafkaRegistrator] = (),
        logger: logging.Logger | None = _DEFAULT_LOGGER,
        log_level: int = logging.INFO,
        description: str | None = None,
        tags: Iterable[Any] = (),
        specification_url: str | None = None,
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
            security=security,
        )
        self.security = security
        super().__init__(
            dependencies=dependencies,
            middlewares=middlewares,
            routers=routers,
            parser=parser,
            decoder=decoder,
            ack_policy=ack_policy,
        )
        self.graceful_timeout = graceful_timeout
        self.nack_backoff = nack_backoff or Backoff()
        self.logger = logger
        self.log_level = log_level
        self.description = description
        self.tags = tuple(tags)
        self.specification_url = specification_url
        #: Named values for ``Context(...)`` parameters and middlewares.
        self.context = ContextRepo()
        self.context.set_global("broker", self)
        self.context.set_global("logger", logger)
        self._transport: Transport | None = None
        # Builds the transport on connect. TestKafkaBroker sets it to build one over
        # its in-memory Kafka: the one seam through which a test swaps the cluster.
        self._transport_factory: Callable[[], Transport] | None = None
        self._running = False
        self._instances: list[AnySubscriber] = []
        self._publisher_instances: list[DefaultPublisher] = []
        self._declared_topics: list[Topic] = []
        self._replies: ReplyListener | None = None

    # -- resolution ------------------------------------------------------------

    def _root_scope(self) -> Scope:
        return Scope(
            broker=self,
            owner=self,
            parent=None,
            prefix="",
            middlewares=tuple(self._middlewares),
            dependencies=tuple(self._dependencies),
            parser=self.parser,
            decoder=self.decoder,
            ack_policy=self.ack_policy,
            include_in_schema=True,
        )

    def resolve(self) -> list[AnySubscriber]:
        """Resolve every subscriber and publisher of the broker and its routers.

        Returns the subscribers as they run: topics with prefixes, and one
        subscriber per inclusion of a router. Called by ``start()``; the AsyncAPI
        generator calls it without starting anything. While the broker runs, it
        returns the running subscribers and changes nothing.
        """
        if self._running:
            return list(self._instances)
        scopes = list(self._walk(self._root_scope()))
        for scope in scopes:  # a new resolution binds the declared publishers afresh
            for publisher in scope.owner.publishers:
                publisher.unbind()
        self._publisher_instances = [
            publisher.bound(scope) for scope in scopes for publisher in scope.owner.publishers
        ]
        seen: set[int] = set()
        instances: list[AnySubscriber] = []
        for scope in scopes:
            for sub in scope.owner.subscribers:
                if id(sub) in seen:
                    sub = sub.copy()  # the same router included again
                seen.add(id(sub))
                sub.bind(scope)
                instances.append(sub)
        self._instances = instances
        self._declared_topics = _declared_topics(scopes, instances)
        return list(instances)

    def resolved_publishers(self) -> list[DefaultPublisher]:
        """The publishers declared on the broker and its routers, as ``resolve()`` bound
        them (a router included twice gives two)."""
        return list(self._publisher_instances)

    def _bind_one(self, sub: Subscriber) -> None:
        """Resolve a subscriber declared on the broker after start."""
        sub.bind(self._root_scope())
        if sub not in self._instances:
            self._instances.append(sub)  # type: ignore[arg-type]  # one of the four kinds

    # -- lifecycle -------------------------------------------------------------

    async def connect(self) -> None:
        """Connect the producer. Raises KafkaUnavailableError within request_timeout_ms."""
        if self._transport is None:
            transport = (self._transport_factory or self._make_transport)()
            await transport.connect()
            self._transport = transport

    async def start(self) -> None:
        """Connect, resolve settings, then start every subscriber (each joins its group)."""
        await self.connect()
        if self._running:
            return
        instances = self.resolve()
        await self._transport_or_raise().create_topics(self._declared_topics)
        self._running = True
        started: list[AnySubscriber] = []
        try:
            for sub in instances:
                await sub.start()
                started.append(sub)
        except BaseException:
            for sub in reversed(started):
                await sub.stop()
            self._running = False
            raise

    async def stop(self) -> None:
        """Stop subscribers gracefully (commit what finished), then flush and close."""
        for sub in reversed(self._instances):
            await sub.stop()
        self._running = False
        replies, self._replies = self._replies, None
        if replies is not None:
            await replies.stop()
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
        """Publish one message (``None`` with a key is a tombstone).

        Returns the record's ``RecordMetadata`` once the cluster acknowledged it,
        or with ``no_confirm=True`` a future of it as soon as it is queued.
        Goes through the broker's middlewares.
        """
        if not topic:
            raise SetupError("publish() needs a topic: broker.publish(body, 'orders')")
        result: RecordMetadata | asyncio.Future[RecordMetadata] = await self._publish_chain(
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
        return result

    async def publish_batch(
        self,
        *messages: Any,
        topic: str,
        key: Any = None,
        partition: int | None = None,
        timestamp_ms: int | None = None,
        headers: Mapping[str, str | bytes] | None = None,
        correlation_id: str | None = None,
        reply_to: str = "",
        no_confirm: bool = False,
    ) -> Any:
        """Publish ``messages`` as one batch to one partition (``partition``, else the
        key's, else a random one), so they keep their order.

        Returns the metadata of the batch's first record (or its future).
        """
        if not messages:
            raise SetupError("publish_batch() needs at least one message")
        return await self._publish_chain(
            PublishCommand(
                body=None,
                topic=topic,
                key=key,
                partition=partition,
                timestamp_ms=timestamp_ms,
                headers=headers or {},
                correlation_id=correlation_id,
                reply_to=reply_to,
                no_confirm=no_confirm,
                batch=messages,
            )
        )

    async def request(
        self,
        message: Any = None,
        topic: str = "",
        *,
        timeout: float = 0.5,
        key: Any = None,
        partition: int | None = None,
        timestamp_ms: int | None = None,
        headers: Mapping[str, str | bytes] | None = None,
        correlation_id: str | None = None,
    ) -> KafkaMessage:
        """Publish ``message`` and wait for the reply of the service that handles it.

        The broker listens on a reply topic of its own (created on first use) and
        matches the reply by ``correlation_id``. Raises ``TimeoutError`` after
        ``timeout`` seconds, leaving nothing behind.
        """
        if not topic:
            raise SetupError("request() needs a topic: broker.request(body, 'rpc')")
        transport = self._transport_or_raise()
        if self._replies is None:
            self._replies = ReplyListener(self.options.client_id, self.logger)
        cmd = PublishCommand(
            body=message,
            topic=topic,
            key=key,
            partition=partition,
            timestamp_ms=timestamp_ms,
            headers=headers or {},
            correlation_id=correlation_id,
        )
        return await self._replies.request(transport, self._publish_chain, cmd, timeout)

    @property
    def pending_requests(self) -> int:
        """How many ``request()`` calls are waiting for a reply."""
        return len(self._replies.pending) if self._replies is not None else 0

    async def _publish_chain(self, cmd: PublishCommand) -> Any:
        if not self._middlewares:  # nothing watches publishes: no chain to go through
            return await send(self._transport_or_raise(), cmd)
        publish = wrap_publish(self._send, tuple(self._middlewares), self.context)
        return await publish(cmd)

    async def _send(self, cmd: PublishCommand) -> Any:
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


def _declared_topics(scopes: list[Scope], subscribers: list[AnySubscriber]) -> list[Topic]:
    """The ``Topic`` declarations of subscribers and publishers, under their real names."""
    declared: dict[str, Topic] = {}
    for sub in subscribers:
        for name in sub.config.topics:
            if isinstance(name, Topic):
                declared.setdefault(sub.prefix + name, name.renamed(sub.prefix + name))
    for scope in scopes:
        for publisher in scope.owner.publishers:
            if isinstance(publisher.name, Topic):
                real = scope.prefix + publisher.name
                declared.setdefault(real, publisher.name.renamed(real))
    return list(declared.values())
