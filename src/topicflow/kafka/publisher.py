"""Publishing: the record a publish builds, and publisher objects.

Every publish, whether ``broker.publish``, a publisher object, or a handler's
return value sent by ``@publisher``, becomes one :class:`PublishCommand` and
goes through :func:`send`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from topicflow._codec import encode_body, encode_key

if TYPE_CHECKING:
    import asyncio
    from collections.abc import Callable, Mapping

    from topicflow.kafka._transport import RecordMetadata, Transport
    from topicflow.kafka.broker.broker import KafkaBroker

__all__ = ["DefaultPublisher", "PublishCommand", "send"]

F = TypeVar("F", bound="Callable[..., Any]")

#: Attribute under which a handler function keeps the publishers stacked on it.
PUBLISHERS_ATTR = "__topicflow_publishers__"

HeaderValue = str | bytes


@dataclass(slots=True)
class PublishCommand:
    """One record to publish, before encoding."""

    body: Any
    topic: str
    key: Any = None
    partition: int | None = None
    timestamp_ms: int | None = None
    headers: Mapping[str, HeaderValue] = field(default_factory=dict)
    correlation_id: str | None = None
    reply_to: str = ""
    no_confirm: bool = False


async def send(
    transport: Transport, cmd: PublishCommand
) -> RecordMetadata | asyncio.Future[RecordMetadata]:
    """Encode ``cmd`` in the wire format and hand it to the transport.

    Returns the record's metadata once the cluster acknowledged it, or, with
    ``no_confirm``, the future of that metadata as soon as it is queued.
    """
    value, content_type = encode_body(cmd.body)
    headers: list[tuple[str, bytes]] = []
    if content_type is not None:
        headers.append(("content-type", content_type.encode()))
    headers.append(("correlation_id", (cmd.correlation_id or uuid.uuid4().hex).encode()))
    if cmd.reply_to:
        headers.append(("reply_to", cmd.reply_to.encode()))
    for name, header in cmd.headers.items():
        headers.append((name, header.encode() if isinstance(header, str) else header))
    future = await transport.send(
        cmd.topic,
        value,
        key=encode_key(cmd.key),
        partition=cmd.partition,
        timestamp_ms=cmd.timestamp_ms,
        headers=headers,
    )
    if cmd.no_confirm:
        return future
    return await future


class DefaultPublisher:
    """A named destination. Decorate a handler with it to publish what the
    handler returns (``None`` publishes nothing), or call :meth:`publish`.
    """

    def __init__(
        self,
        broker: KafkaBroker,
        topic: str,
        *,
        key: Any = None,
        partition: int | None = None,
        headers: Mapping[str, HeaderValue] | None = None,
        reply_to: str = "",
        title: str | None = None,
        description: str | None = None,
        schema: Any | None = None,
        include_in_schema: bool = True,
        autoflush: bool = False,
    ) -> None:
        self._broker = broker
        self.topic = topic
        self.key = key
        self.partition = partition
        self.headers: Mapping[str, HeaderValue] = dict(headers or {})
        self.reply_to = reply_to
        self.title = title
        self.description = description
        self.schema = schema
        self.include_in_schema = include_in_schema
        self.autoflush = autoflush

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
    ) -> RecordMetadata | asyncio.Future[RecordMetadata]:
        """Publish ``message`` to this publisher's topic.

        Arguments left out take the publisher's own settings; ``headers`` are
        added to the publisher's headers.
        """
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
        )
        result = await self._broker._send(cmd)
        if self.autoflush:
            await self._broker._transport_or_raise().flush()
        return result

    def __repr__(self) -> str:
        return f"<DefaultPublisher topic={self.topic!r}>"
