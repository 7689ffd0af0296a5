"""KafkaBroker: the connection, its subscribers and publishers, and publishing."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any, Literal

from topicflow._apply import DEFAULT_SERIALIZER, refuse_fast_depends
from topicflow._context import ContextRepo
from topicflow._resolvers import register_driver
from topicflow._tasks import Backoff, Supervision
from topicflow.ack import AckPolicy
from topicflow.exceptions import SetupError, SubscriberFailed
from topicflow.kafka._consumer_only import ConsumerOnly
from topicflow.kafka._publish import set_id_generator
from topicflow.kafka._readiness import Readiness
from topicflow.kafka._runtime import Runtime
from topicflow.kafka._transport import AiokafkaTransport, ConnectionOptions
from topicflow.kafka.broker._publishing import Publishing
from topicflow.kafka.broker.registrator import AnySubscriber, KafkaRegistrator, Scope, resolve_tree
from topicflow.kafka.publisher import DefaultPublisher

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence
    from types import TracebackType

    from topicflow.kafka._replies import ReplyListener
    from topicflow.kafka._runtime import Observer
    from topicflow.kafka._seam import Transport
    from topicflow.kafka._subscriber import Subscriber
    from topicflow.kafka.topic import Topic
    from topicflow.params import UnderlyingDriverAnnotation
    from topicflow.security import BaseSecurity

__all__ = ["KafkaBroker"]

_DEFAULT_LOGGER = logging.getLogger("topicflow")


class KafkaBroker(KafkaRegistrator, Publishing):
    """A Kafka cluster connection with the subscribers and publishers declared on it.

    Args:
        bootstrap_servers: ``"host:port"``, a comma-separated list, or a list of them.
        request_timeout_ms: bound for every request, and for connecting at start.
        acks: producer acknowledgement: ``"all"`` (the default: a record counts as
            published once every in-sync replica has it), ``1`` or ``0`` (with
            ``enable_idempotence=False`` only).
        enable_idempotence: ``True`` (the default, as in Kafka's own clients since
            3.0): the cluster drops the duplicates of a retried record and keeps
            each partition's order. Needs ``acks="all"``.
        security: TLS and SASL settings, e.g. ``SASLScram512("user", "secret",
            use_ssl=True)`` (see :mod:`topicflow.security`).
        graceful_timeout: seconds that in-flight handlers get to finish on
            ``stop()`` and on partition revoke.
        ack_policy: the default :class:`~topicflow.AckPolicy` of its subscribers.
        nack_backoff: delays before a nacked message is delivered again; they
            grow with each attempt (default ``Backoff(0.1, 2.0, 5.0)`` seconds).
        supervision: how often a crashing background task (a subscriber's fetch
            loop, committer or worker) is restarted before it is given up and the
            app stops with exit code 1 (default ``Supervision()``: 5 restarts
            within 60 s, after 0.1, 0.2, 0.4, ... seconds).
        decoder, parser: defaults for every subscriber (routers and subscribers
            may set their own).
        dependencies: run before every handler, first of all.
        middlewares: wrap every consumed message and every publish, outermost.
        routers: routers to include.
        logger: where the framework logs; ``None`` silences it.
        log_level: the level of per-message log lines.
        description, tags, specification_url, protocol, protocol_version: for the
            AsyncAPI document.
        client_rack: the rack of every consumer (for fetching from the closest
            replica); a subscriber's ``client_rack`` wins.
        consumer_only: no producer is started; publishing (also replies and
            ``@publisher`` results) raises ``SetupError``.
        allow_auto_create_topics: ``False``: a subscriber's start does not ask the
            cluster to create a missing topic.
        apply_types: ``False`` (as in FastStream): each handler is called with the
            decoded body alone, neither validated nor with dependencies injected.
        context: the :class:`~topicflow.context.ContextRepo` to use (a new one by
            default).
        loop: accepted for FastStream's signature and ignored (asyncio's running
            loop is used).
        id_generator: makes the correlation id of a publish that gives none (by
            default 32 hex digits); process-wide: it applies to every broker's publishes.
        underlying_driver_annotations: class -> ``UnderlyingDriverAnnotation``: a
            handler parameter annotated with the bare class gets what the
            annotation gives (process-wide, like the classes topicflow maps itself).
        codec, serializer, provider: FastStream's hooks into its own dependency
            library (fast_depends); topicflow validates with pydantic and has its own
            injection, so only their defaults are accepted.

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
        client_rack: str | None = None,
        consumer_only: bool = False,
        allow_auto_create_topics: bool = True,
        acks: Literal[0, 1, -1, "all"] = "all",
        key_serializer: Callable[[Any], bytes] | None = None,
        value_serializer: Callable[[Any], bytes] | None = None,
        compression_type: Literal["gzip", "snappy", "lz4", "zstd"] | None = None,
        max_batch_size: int = 16_384,
        linger_ms: int = 0,
        max_request_size: int = 1_048_576,
        partitioner: Callable[..., Any] | None = None,
        enable_idempotence: bool = True,
        transactional_id: str | None = None,
        transaction_timeout_ms: int = 60_000,
        security: BaseSecurity | None = None,
        sasl_kerberos_service_name: str = "kafka",
        sasl_kerberos_domain_name: str | None = None,
        sasl_oauth_token_provider: Any = None,
        loop: Any = None,
        graceful_timeout: float = 15.0,
        ack_policy: AckPolicy = AckPolicy.ACK,
        nack_backoff: Backoff | None = None,
        supervision: Supervision | None = None,
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
        protocol: str | None = None,
        protocol_version: str | None = "auto",
        apply_types: bool = True,
        context: ContextRepo | None = None,
        id_generator: Callable[[], str] | None = None,
        codec: Any = None,
        serializer: Any = DEFAULT_SERIALIZER,
        provider: Any = None,
        underlying_driver_annotations: Mapping[type, UnderlyingDriverAnnotation] | None = None,
    ) -> None:
        refuse_fast_depends(codec=codec, serializer=serializer, provider=provider)
        if id_generator is not None:
            set_id_generator(id_generator)
        for cls, annotation in (underlying_driver_annotations or {}).items():
            register_driver(cls, annotation.type_hint)
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
            "transaction_timeout_ms": transaction_timeout_ms,
        }
        given = {"key_serializer": key_serializer, "value_serializer": value_serializer}
        producer.update({k: v for k, v in given.items() if v is not None})
        if partitioner is not None:
            producer["partitioner"] = partitioner
        extra: dict[str, Any] = {}
        if sasl_kerberos_service_name != "kafka":
            extra["sasl_kerberos_service_name"] = sasl_kerberos_service_name
        if sasl_kerberos_domain_name is not None:
            extra["sasl_kerberos_domain_name"] = sasl_kerberos_domain_name
        if sasl_oauth_token_provider is not None:
            extra["sasl_oauth_token_provider"] = sasl_oauth_token_provider
        self.options = ConnectionOptions(
            bootstrap_servers=servers,
            client_id=client_id,
            request_timeout_ms=request_timeout_ms,
            retry_backoff_ms=retry_backoff_ms,
            metadata_max_age_ms=metadata_max_age_ms,
            connections_max_idle_ms=connections_max_idle_ms,
            producer=producer,
            security=security,
            consumer={"client_rack": client_rack} if client_rack is not None else {},
            consumer_only=consumer_only,
            allow_auto_create_topics=allow_auto_create_topics,
            extra=extra,
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
        self.supervision = supervision or Supervision()
        self.logger = logger
        self.log_level = log_level
        self.description = description
        self.tags = tuple(tags)
        self.specification_url = specification_url
        self.protocol = protocol
        self.protocol_version = protocol_version
        #: False: handlers get the decoded body alone, neither validated nor injected.
        self.apply_types = apply_types
        #: Named values for ``Context(...)`` parameters and middlewares.
        self.context = context if context is not None else ContextRepo()
        self.context.set_global("broker", self)
        self.context.set_global("logger", logger)
        self._runtime = Runtime(
            transport=self._connected_transport,
            request=self._request,
            observer=lambda: self._observer,
            failed=self._task_failed,
            context=self.context,
            logger=logger,
            log_level=log_level,
            graceful_timeout=graceful_timeout,
            nack_backoff=self.nack_backoff,
            supervision=self.supervision,
            apply_types=apply_types,
        )
        self._transport: Transport | None = None
        self._observer: Observer | None = None
        self._running = False
        self._instances: list[AnySubscriber] = []
        self._publisher_instances: list[DefaultPublisher] = []
        self._declared_topics: list[Topic] = []
        self._replies: ReplyListener | None = None
        self._failure: SubscriberFailed | None = None
        self._failed = asyncio.Event()

    #: A broker is the root of its router tree, never included in another.
    includable = False

    # -- resolution ------------------------------------------------------------

    def _root_scope(self) -> Scope:
        return Scope(
            runtime=self._runtime,
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
        resolved = resolve_tree(self, self._root_scope())
        self._instances = resolved.subscribers
        self._publisher_instances = resolved.publishers
        self._declared_topics = resolved.topics
        return list(resolved.subscribers)

    def resolved_publishers(self) -> list[DefaultPublisher]:
        """The publishers declared on the broker and its routers, as ``resolve()`` bound
        them (a router included twice gives two)."""
        return list(self._publisher_instances)

    def attach(self, declared: Subscriber | DefaultPublisher) -> None:
        """Resolve a subscriber or publisher declared on this (connected) broker after it
        resolved: ``sub.start()`` and a publisher's ``publish()`` call it."""
        if self._transport is None:
            raise SetupError(
                f"{declared!r} belongs to a broker that is not connected: use 'async with "
                "broker:', 'await broker.connect()' or 'await broker.start()' first"
            )
        declared.bind(self._root_scope())
        if not isinstance(declared, DefaultPublisher) and declared not in self._instances:
            self._instances.append(declared)  # type: ignore[arg-type]  # one of the four kinds

    # -- lifecycle -------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """True between ``connect()`` (or ``start()``) and ``stop()``."""
        return self._transport is not None

    def observe(self, observer: Observer | None) -> None:
        """Install an :class:`~topicflow.kafka.Observer` (None removes it).

        The hook of test tools (``TestKafkaBroker`` is one): the observer chooses
        the transport the broker connects with and sees every subscriber's
        pipeline as it starts. Only while the broker is not connected.
        """
        if self._transport is not None:
            raise SetupError(
                f"{self!r} is connected already; install an observer before "
                "'async with broker', broker.connect() or broker.start()"
            )
        self._observer = observer

    @property
    def observer(self) -> Observer | None:
        """The installed observer, if any."""
        return self._observer

    async def connect(self) -> None:
        """Connect the producer. Raises KafkaUnavailableError within request_timeout_ms."""
        if self._transport is None:
            observer = self._observer
            make = self._make_transport
            transport = observer.transport(make) if observer is not None else make()
            if self.options.consumer_only:
                transport = ConsumerOnly(transport)
            await transport.connect()
            self._transport = transport
            self._failure = None
            self._failed.clear()

    async def start(self) -> None:
        """Connect, resolve settings, then start every subscriber (each joins its group)."""
        await self.connect()
        if self._running:
            return
        instances = self.resolve()
        await self._connected_transport().create_topics(self._declared_topics)
        self._running = True
        started: list[AnySubscriber] = []
        try:
            for sub in instances:
                await sub.start()
                started.append(sub)
        except BaseException:
            await asyncio.gather(*(sub.stop() for sub in started), return_exceptions=True)
            self._running = False
            raise

    async def stop(self) -> None:
        """Stop subscribers gracefully (commit what finished), then flush and close.

        The subscribers stop together; each gives its handlers ``graceful_timeout``
        to finish and as long again to commit and leave its group. Flushing the
        producer is bounded by ``graceful_timeout`` as well.
        """
        results = await asyncio.gather(
            *(sub.stop() for sub in reversed(self._instances)), return_exceptions=True
        )
        self._running = False
        replies, self._replies = self._replies, None
        if replies is not None:
            await replies.stop(self.graceful_timeout)
        transport, self._transport = self._transport, None
        if transport is not None:
            try:
                async with asyncio.timeout(self.graceful_timeout):
                    await transport.close()
            except TimeoutError:
                if self.logger is not None:
                    self.logger.warning(
                        "%r: flushing the producer took longer than graceful_timeout=%ss; "
                        "records not yet confirmed may be lost",
                        self,
                        self.graceful_timeout,
                    )
        for result in results:
            if isinstance(result, BaseException):
                raise result

    async def ping(self, timeout: float | None = None) -> bool:
        """True when the cluster answers within ``timeout`` seconds and no running
        subscriber is dead or restarting a crashed task."""
        transport = self._transport
        if transport is None or self.unhealthy():
            return False
        bound = timeout if timeout is not None else self.options.request_timeout_ms / 1000
        return await transport.ping(bound)

    async def ready(self, timeout: float | None = None) -> Readiness:
        """Whether the broker does the work it was started for (a readiness probe's
        question): connected, its cluster answering within ``timeout`` seconds (default
        ``request_timeout_ms``), and every subscriber running, with no crashed task and
        its partitions assigned; a group member assigned none (more members than
        partitions) is idle, and ready. The answer names what is not ready."""
        if self._transport is None:
            return Readiness((f"{self!r}: not connected; start it (await broker.start())",))
        problems = list(self.unhealthy())
        if self._instances and not self._running:
            problems.append(f"{self!r}: its subscribers are not started (await broker.start())")
        for sub in self._instances if self._running else ():
            if not sub.running and not sub.stopped_by_handler:  # StopConsume: done, ready
                problems.append(f"{sub!r}: not running (await sub.start())")
            elif sub.healthy:
                problems.extend(
                    f"{sub!r}: {loop.name} is joining its group (waiting for an assignment)"
                    for loop in sub.consumers
                    if not loop.joined
                )
        bound = timeout if timeout is not None else self.options.request_timeout_ms / 1000
        if not await self._transport.ping(bound):
            problems.append(
                f"the cluster at {self.options.servers_text} did not answer within {bound:g}s"
            )
        return Readiness(tuple(problems))

    def unhealthy(self) -> list[str]:
        """What is not sound: running subscribers with a crashed task (restarting or given
        up), a dead reply listener. Empty when all is well."""
        problems = [
            sub.failure or f"{sub!r}: a task crashed and is restarting"
            for sub in self._instances
            if sub.running and not sub.healthy
        ]
        if self._replies is not None and not self._replies.healthy:
            problems.append(f"{self!r}: the reply listener of request() is not running")
        return problems

    @property
    def failure(self) -> SubscriberFailed | None:
        """Why a background task of this broker was given up, or None."""
        return self._failure

    async def wait_failed(self) -> SubscriberFailed:
        """Wait until a background task of this broker is given up (``App.run()`` does)."""
        await self._failed.wait()
        assert self._failure is not None
        return self._failure

    def _task_failed(self, reason: str, exc: BaseException) -> None:
        if self._failure is None:
            self._failure = SubscriberFailed(reason)
            self._failure.__cause__ = exc
        self._failed.set()

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

    def _make_transport(self) -> Transport:
        return AiokafkaTransport(self.options, self.logger)

    def __repr__(self) -> str:
        return f"<KafkaBroker {self.options.servers_text}>"
