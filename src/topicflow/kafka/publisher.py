"""Publishing: the record a publish builds, publisher objects, and handler results.

Every publish (``broker.publish``, a publisher object, a handler's return value
sent by ``@publisher``, a reply, ``request()``) becomes one :class:`PublishCommand`,
goes through the middlewares' ``publish_scope`` and then :func:`send`.
"""

from __future__ import annotations

import dataclasses
import uuid
from typing import TYPE_CHECKING, Any, TypeVar

from topicflow._codec import JSON, TEXT, encode_body, encode_key
from topicflow.exceptions import PublishError, SetupError
from topicflow.middlewares import wrap_publish
from topicflow.response import Response

if TYPE_CHECKING:
    import asyncio
    from collections.abc import Awaitable, Callable, Mapping, Sequence

    from topicflow.kafka._transport import Transport
    from topicflow.kafka.broker.broker import KafkaBroker
    from topicflow.kafka.broker.registrator import KafkaRegistrator, Scope

__all__ = ["DefaultPublisher", "KafkaResponse", "PublishCommand", "encode_record", "send"]

F = TypeVar("F", bound="Callable[..., Any]")

#: Attribute under which a handler function keeps the publishers stacked on it.
PUBLISHERS_ATTR = "__topicflow_publishers__"

HeaderValue = str | bytes
Record = tuple[bytes | None, bytes | None, list[tuple[str, bytes]]]  # value, key, headers

#: The content-type header of each content type encode_body() gives, built once.
_CONTENT_TYPE_HEADERS = {
    JSON: ("content-type", JSON.encode()),
    TEXT: ("content-type", TEXT.encode()),
}


@dataclasses.dataclass(slots=True)
class PublishCommand:
    """One publish, before encoding. ``batch`` holds the bodies of a batch publish."""

    body: Any
    topic: str
    key: Any = None
    partition: int | None = None
    timestamp_ms: int | None = None
    headers: Mapping[str, HeaderValue] = dataclasses.field(default_factory=dict)
    correlation_id: str | None = None
    reply_to: str = ""
    no_confirm: bool = False
    batch: Sequence[Any] | None = None


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


def encode_record(body: Any, cmd: PublishCommand, correlation_id: str) -> Record:
    """The wire form of one body: value, key and headers (FastStream-compatible)."""
    value, content_type = encode_body(body)
    cid = ("correlation_id", correlation_id.encode())
    headers: list[tuple[str, bytes]] = (
        [cid] if content_type is None else [_CONTENT_TYPE_HEADERS[content_type], cid]
    )
    if cmd.reply_to:
        headers.append(("reply_to", cmd.reply_to.encode()))
    if cmd.headers:
        for name, header in cmd.headers.items():
            headers.append((name, header.encode() if isinstance(header, str) else header))
    return value, None if cmd.key is None else encode_key(cmd.key), headers


async def send(transport: Transport, cmd: PublishCommand) -> Any:
    """Encode ``cmd`` and hand it to the transport.

    Returns the record's metadata once the cluster acknowledged it, or, with
    ``no_confirm``, the future of that metadata as soon as it is queued. A
    batch returns the list of metadata (or one future for the whole batch).
    """
    correlation_id = cmd.correlation_id or uuid.uuid4().hex
    if cmd.batch is not None:
        records = [encode_record(body, cmd, correlation_id) for body in cmd.batch]
        future = await transport.send_batch(
            cmd.topic, records, partition=cmd.partition, timestamp_ms=cmd.timestamp_ms
        )
    else:
        future = await send_one(transport, cmd, cmd.body, correlation_id)
    if cmd.no_confirm:
        return future
    return await future


async def send_one(
    transport: Transport, cmd: PublishCommand, body: Any, correlation_id: str
) -> asyncio.Future[Any]:
    """Encode ``body`` with ``cmd``'s settings and queue it; the confirmation's future."""
    value, key, headers = encode_record(body, cmd, correlation_id)
    if value is None and key is None:
        raise PublishError(
            f"publishing None to {cmd.topic!r} without a key: a Kafka record needs a "
            "value or a key. Pass key= for a tombstone, or b'' for an empty message."
        )
    return await transport.send(
        cmd.topic,
        value,
        key=key,
        partition=cmd.partition,
        timestamp_ms=cmd.timestamp_ms,
        headers=headers,
    )


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
        self._result_cmd: PublishCommand | None = None

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

    def bind(self, scope: Scope) -> None:
        """Resolve the topic prefix and middlewares in force at ``scope`` (at start)."""
        self._scope = scope
        broker = scope.broker
        self._send = wrap_publish(broker._send, scope.middlewares, broker.context)
        # What publish() would build for a handler's plain result, built once: when no
        # middleware watches publishes and nothing is flushed or batched, results go
        # straight to the transport (see publish_result).
        plain = not (scope.middlewares or self.autoflush or self.batch)
        self._result_cmd = (
            PublishCommand(
                body=None,
                topic=self.topic,
                key=self.key,
                partition=self.partition,
                headers=self.headers,
                reply_to=self.reply_to,
            )
            if plain
            else None
        )

    def unbind(self) -> None:
        """Forget the resolved settings (the broker resolves again)."""
        self._scope = None
        self._send = None
        self._result_cmd = None

    def bound(self, scope: Scope) -> DefaultPublisher:
        """This publisher resolved at ``scope``: itself if it already is, else a copy."""
        if self._scope == scope:
            return self
        if self._scope is None:
            self.bind(scope)
            return self
        copy = _copy(self)
        copy.bind(scope)
        return copy

    def __call__(self, func: F) -> F:
        """Publish ``func``'s return values here (when ``func`` is a subscriber's handler)."""
        publishers: list[DefaultPublisher] | None = getattr(func, PUBLISHERS_ATTR, None)
        if publishers is None:
            publishers = []
            setattr(func, PUBLISHERS_ATTR, publishers)
        publishers.append(self)
        return func

    async def publish(
        self,
        message: Any = None,
        *,
        key: Any = None,
        partition: int | None = None,
        timestamp_ms: int | None = None,
        headers: Mapping[str, HeaderValue] | None = None,
        correlation_id: str | None = None,
        reply_to: str = "",
        no_confirm: bool = False,
    ) -> Any:
        """Publish ``message`` to this publisher's topic (a list or tuple as one batch,
        for a ``batch=True`` publisher).

        Arguments left out take the publisher's own settings; ``headers`` are
        added to the publisher's headers. Returns ``RecordMetadata`` (a list of
        them for a batch), or its future with ``no_confirm=True``.
        """
        broker = _running_broker(self._owner) if self._scope is None else None
        if broker is not None:
            # Declared on the broker after it started: the broker's own settings apply.
            self.bind(broker._root_scope())
        if self._send is None or self._scope is None:
            raise SetupError(
                f"publisher {self.name!r} is not attached to a started broker: include its "
                "router in the broker (broker.include_router(router)) and start the broker"
            )
        cmd = PublishCommand(
            body=message,
            topic=self.topic,
            key=self.key if key is None else key,
            partition=self.partition if partition is None else partition,
            timestamp_ms=timestamp_ms,
            headers={**self.headers, **(headers or {})},
            correlation_id=correlation_id,
            reply_to=reply_to or self.reply_to,
            no_confirm=no_confirm,
            batch=tuple(message) if self.batch and isinstance(message, list | tuple) else None,
        )
        if not self.autoflush:
            return await self._send(cmd)
        # Flush before waiting for the confirmation, or linger_ms would hold it back.
        cmd.no_confirm = True
        future = await self._send(cmd)
        await self._scope.broker._transport_or_raise().flush()
        return future if no_confirm else await future

    async def publish_result(
        self,
        result: Any,
        correlation_id: str,
        unconfirmed: list[asyncio.Future[Any]] | None = None,
    ) -> None:
        """Publish a handler's return value (a :class:`Response` chooses key and headers).

        With ``unconfirmed``, the cluster's confirmation is not waited for here:
        its future is appended to that list, and the subscriber finishes the
        consumed message once it resolves (so the next message need not wait).
        """
        cmd = self._result_cmd
        if cmd is not None and self._scope is not None and not isinstance(result, Response):
            # publish()'s steps without its options: the settings were built at bind.
            transport = self._scope.broker._transport_or_raise()
            future = await send_one(transport, cmd, result, correlation_id)
            if unconfirmed is None:
                await future
            else:
                unconfirmed.append(future)
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

    async def request(self, message: Any = None, *, timeout: float = 0.5, **options: Any) -> Any:
        """Publish ``message`` here and wait for the reply (see ``KafkaBroker.request``)."""
        if self._scope is None:
            raise SetupError(f"publisher {self.name!r} is not attached to a started broker")
        broker: KafkaBroker = self._scope.broker
        return await broker.request(message, self.topic, timeout=timeout, **options)

    def __repr__(self) -> str:
        return f"<DefaultPublisher topic={self.topic!r}>"


def _copy(publisher: DefaultPublisher) -> DefaultPublisher:
    copy = object.__new__(DefaultPublisher)
    copy.__dict__.update(publisher.__dict__)
    return copy


def _running_broker(owner: KafkaRegistrator) -> KafkaBroker | None:
    from topicflow.kafka.broker.broker import KafkaBroker

    return owner if isinstance(owner, KafkaBroker) and owner._transport is not None else None
