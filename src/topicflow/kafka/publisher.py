"""Publisher objects, handler results, and ``KafkaResponse``.

A :class:`DefaultPublisher` is a named destination declared on a broker or a
router. Resolved at start (:meth:`DefaultPublisher.bind`), its publishes go
through the middlewares in force where it was declared, then to
:func:`topicflow.kafka._publish.send` over the broker's runtime.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar, Unpack

# wrapper_of: re-exported for the subscribers, whose decorators return its wrapper too.
from topicflow._handler import HandlerCallWrapper
from topicflow._handler import wrapper_of as wrapper_of
from topicflow.exceptions import SetupError
from topicflow.kafka._publish import PublishCommand, PublishOptions, send_one
from topicflow.middlewares import wrap_publish
from topicflow.response import PublishType, Response

if TYPE_CHECKING:
    import asyncio
    from collections.abc import Awaitable, Callable, Mapping

    from topicflow._command import HeaderValue
    from topicflow.kafka._runtime import Runtime
    from topicflow.kafka.broker.registrator import KafkaRegistrator, Scope
    from topicflow.kafka.message import KafkaMessage

__all__ = [
    "BatchPublisher",
    "DefaultPublisher",
    "KafkaResponse",
    "PublishCommand",
    "resolve_publisher",
]

F = TypeVar("F", bound="Callable[..., Any]")

#: Attribute under which a handler function keeps the publishers stacked on it.
PUBLISHERS_ATTR = "__topicflow_publishers__"


class KafkaResponse(Response):
    """A handler's return value with the key, partition, timestamp and headers to publish it with.

    ``return KafkaResponse(order, key=order.customer, headers={"v": "2"})``
    """

    def __init__(
        self,
        body: Any,
        *,
        key: Any = None,
        partition: int | None = None,
        timestamp_ms: int | None = None,
        headers: Mapping[str, str | bytes] | None = None,
        correlation_id: str | None = None,
    ) -> None:
        super().__init__(body, headers=headers, correlation_id=correlation_id)
        self.key = key
        self.partition = partition
        self.timestamp_ms = timestamp_ms

    def options(self) -> dict[str, Any]:
        """Keyword arguments for ``publish()``, beyond the body."""
        return {
            **super().options(),
            "key": self.key,
            "partition": self.partition,
            "timestamp_ms": self.timestamp_ms,
        }


class DefaultPublisher:
    """A named destination. Decorate a handler with it to publish what the
    handler returns (``None`` publishes nothing), or call :meth:`publish`.

    Declared on a router, its topic gets the router's prefix and its publishes
    go through the router's middlewares, once the router is included.
    """

    def __init__(
        self,
        owner: KafkaRegistrator,
        topic: str,
        *,
        key: Any = None,
        partition: int | None = None,
        headers: Mapping[str, HeaderValue] | None = None,
        reply_to: str = "",
        batch: bool = False,
        title: str | None = None,
        description: str | None = None,
        schema: Any | None = None,
        include_in_schema: bool = True,
        autoflush: bool = False,
    ) -> None:
        self._owner = owner
        #: The topic as declared (without prefixes).
        self.name = topic
        self.key = key
        self.partition = partition
        self.headers: Mapping[str, HeaderValue] = dict(headers or {})
        self.reply_to = reply_to
        self.batch = batch
        self.title = title
        self.description = description
        self.schema = schema
        self._include_in_schema = include_in_schema
        self.autoflush = autoflush
        self._scope: Scope | None = None
        self._send: Callable[[PublishCommand], Awaitable[Any]] | None = None
        #: True when a handler's plain result may go straight to the transport.
        self._plain = False

    @property
    def topic(self) -> str:
        """The real topic: the declared one with the prefixes of the routers above."""
        return self._scope.prefix + self.name if self._scope is not None else self.name

    @property
    def include_in_schema(self) -> bool:
        """Whether AsyncAPI documents it (False when a router above hides it)."""
        hidden_above = self._scope is not None and not self._scope.include_in_schema
        return self._include_in_schema and not hidden_above

    @property
    def owner(self) -> KafkaRegistrator:
        """The broker or router it was declared on."""
        return self._owner

    @property
    def scope(self) -> Scope | None:
        """The settings it was resolved with (None until the broker resolves it)."""
        return self._scope

    def bind(self, scope: Scope) -> None:
        """Resolve the topic prefix and middlewares in force at ``scope`` (at start)."""
        self._scope = scope
        runtime = scope.runtime
        self._send = wrap_publish(runtime.send, scope.middlewares, runtime.context)
        # When no middleware watches publishes and nothing is flushed or batched, a
        # handler's result goes straight to the transport (see publish_result).
        self._plain = not (scope.middlewares or self.autoflush or self.batch)

    def unbind(self) -> None:
        """Forget the resolved settings (the broker resolves again)."""
        self._scope = None
        self._send = None
        self._plain = False

    def bound(self, scope: Scope) -> DefaultPublisher:
        """This publisher resolved at ``scope``: itself if it already is, else a copy."""
        if self._scope == scope:
            return self
        if self._scope is None:
            self.bind(scope)
            return self
        copy = object.__new__(DefaultPublisher)
        copy.__dict__.update(self.__dict__)
        copy.bind(scope)
        return copy

    def __call__(self, func: F) -> F:
        """Publish ``func``'s return values here (when ``func`` is a subscriber's handler)."""
        # Above a subscriber's decorator, func is its wrapper: the subscriber reads the
        # publishers off the function it compiled.
        target = func.__wrapped__ if isinstance(func, HandlerCallWrapper) else func
        publishers: list[DefaultPublisher] | None = getattr(target, PUBLISHERS_ATTR, None)
        if publishers is None:
            publishers = []
            setattr(target, PUBLISHERS_ATTR, publishers)
        publishers.append(self)
        return func

    def _runtime(self) -> Runtime:
        if self._scope is None:
            # Declared on a connected broker after it resolved: its settings apply.
            # Anywhere else this raises SetupError, naming what to do.
            self._owner.attach(self)
        assert self._scope is not None
        return self._scope.runtime

    async def publish(
        self, message: Any = None, *, no_confirm: bool = False, **options: Unpack[PublishOptions]
    ) -> Any:
        """Publish ``message`` to this publisher's topic (a list or tuple as one batch,
        for a ``batch=True`` publisher).

        Options left out take the publisher's own settings; ``headers`` are
        added to the publisher's headers. Returns ``RecordMetadata`` (of the
        first record, for a batch), or its future with ``no_confirm=True``.
        """
        runtime = self._runtime()
        assert self._send is not None
        key = options.get("key")
        partition = options.get("partition")
        cmd = PublishCommand(
            body=message,
            topic=self.topic,
            key=self.key if key is None else key,
            partition=self.partition if partition is None else partition,
            timestamp_ms=options.get("timestamp_ms"),
            headers={**self.headers, **(options.get("headers") or {})},
            correlation_id=options.get("correlation_id"),
            reply_to=options.get("reply_to") or self.reply_to,
            no_confirm=no_confirm,
            batch=tuple(message) if self.batch and isinstance(message, list | tuple) else None,
        )
        if not self.autoflush:
            return await self._send(cmd)
        # Flush before waiting for the confirmation, or linger_ms would hold it back.
        cmd.no_confirm = True
        future = await self._send(cmd)
        transport = runtime.transport()
        await transport.flush()
        return future if no_confirm else await transport.confirm(self.topic, future)

    async def publish_result(
        self,
        result: Any,
        correlation_id: str,
        unconfirmed: list[asyncio.Future[Any]] | None = None,
    ) -> None:
        """Publish a handler's return value (a :class:`Response` chooses key and headers).

        With ``unconfirmed``, the cluster's confirmation is not waited for here:
        its future is appended to that list, and the subscriber settles the
        consumed message once it resolves (so the next message need not wait).
        """
        if self._plain and not isinstance(result, Response):
            # publish()'s steps without its options: the settings were resolved at bind.
            transport = self._runtime().transport()
            future = await send_one(
                transport,
                self.topic,
                result,
                correlation_id,
                key=self.key,
                partition=self.partition,
                headers=self.headers,
                reply_to=self.reply_to,
            )
            if unconfirmed is None:
                await transport.confirm(self.topic, future)
            else:
                unconfirmed.append(future)  # its failure is translated where it is logged
            return
        if isinstance(result, Response):
            options = result.options()
            options["correlation_id"] = options["correlation_id"] or correlation_id
            body = result.body
        else:
            options = {"correlation_id": correlation_id}
            body = result
        if unconfirmed is None or self.autoflush:
            await self.publish(body, **options)
        else:
            unconfirmed.append(await self.publish(body, **options, no_confirm=True))

    async def request(
        self, message: Any = None, *, timeout: float = 0.5, **options: Unpack[PublishOptions]
    ) -> KafkaMessage:
        """Publish ``message`` here and wait for the reply (see ``KafkaBroker.request``)."""
        runtime = self._runtime()
        cmd = PublishCommand.of(message, self.topic, options, publish_type=PublishType.REQUEST)
        return await runtime.request(cmd, timeout)

    def __repr__(self) -> str:
        return f"<DefaultPublisher topic={self.topic!r}>"


def resolve_publisher(publisher: DefaultPublisher, scope: Scope) -> DefaultPublisher:
    """``publisher`` as bound where it was declared, seen from a subscriber's ``scope``."""
    owner_scope = scope.of(publisher.owner)
    if owner_scope is not None:
        return publisher.bound(owner_scope)
    if publisher.scope is not None:
        return publisher
    raise SetupError(
        f"publisher {publisher.name!r} is declared on a router that is not included in "
        "the broker; include that router too"
    )


class BatchPublisher(DefaultPublisher):
    """What ``publisher(topic, batch=True)`` returns: a list or tuple published (or
    returned by a handler) goes out as one batch (FastStream's class name)."""
