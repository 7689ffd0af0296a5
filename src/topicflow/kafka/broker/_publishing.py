"""KafkaBroker's publishing: ``publish()``, ``publish_batch()``, ``request()``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, Unpack, overload

from topicflow._tasks import TaskGroup
from topicflow.exceptions import SetupError
from topicflow.kafka._futures import Confirmation
from topicflow.kafka._publish import PublishCommand, send, send_with
from topicflow.kafka._replies import ReplyListener
from topicflow.middlewares import wrap_publish
from topicflow.response import PublishType

if TYPE_CHECKING:
    import asyncio
    import logging

    from topicflow._context import ContextRepo
    from topicflow._tasks import Supervision
    from topicflow.kafka._options import ConnectionOptions
    from topicflow.kafka._publish import PublishOptions, RequestOptions
    from topicflow.kafka._runtime import Runtime
    from topicflow.kafka._seam import Transport
    from topicflow.kafka._transport import RecordMetadata
    from topicflow.kafka.message import KafkaMessage

__all__ = ["Producer", "Publishing"]


class Publishing:
    """The publishing half of :class:`~topicflow.kafka.KafkaBroker` (its attributes are
    set by the broker's ``__init__``)."""

    options: ConnectionOptions
    context: ContextRepo
    logger: logging.Logger | None
    supervision: Supervision
    _runtime: Runtime
    _middlewares: list[Any]
    _transport: Transport | None
    _replies: ReplyListener | None

    def _task_failed(self, reason: str, exc: BaseException) -> None:
        raise NotImplementedError

    @overload
    async def publish(
        self,
        message: Any = None,
        topic: str = "",
        *,
        no_confirm: Literal[False] = False,
        **options: Unpack[PublishOptions],
    ) -> RecordMetadata: ...

    @overload
    async def publish(
        self,
        message: Any = None,
        topic: str = "",
        *,
        no_confirm: Literal[True],
        **options: Unpack[PublishOptions],
    ) -> asyncio.Future[RecordMetadata]: ...

    async def publish(
        self,
        message: Any = None,
        topic: str = "",
        *,
        no_confirm: bool = False,
        **options: Unpack[PublishOptions],
    ) -> RecordMetadata | asyncio.Future[RecordMetadata]:
        """Publish one message (``None`` with a key is a tombstone).

        Options: ``key``, ``partition``, ``timestamp_ms``, ``headers``,
        ``correlation_id``, ``reply_to`` (:class:`~topicflow.kafka.PublishOptions`).
        Returns the record's ``RecordMetadata`` once the cluster acknowledged it,
        or with ``no_confirm=True`` a future of it as soon as it is queued. Raises
        (or the future fails with) ``PublishError``: ``PublishTimeout`` without an
        answer within ``request_timeout_ms``. Goes through the broker's middlewares.
        """
        if not topic:
            raise SetupError("publish() needs a topic: broker.publish(body, 'orders')")
        if self._middlewares:
            result: Any = await self._publish_chain(
                PublishCommand.of(
                    message,
                    topic,
                    options,
                    reply_to=options.get("reply_to", ""),
                    no_confirm=no_confirm,
                )
            )
            return result  # type: ignore[no-any-return]
        # Nothing watches publishes: straight to the transport, no command object.
        transport = self._connected_transport()
        future = await send_with(transport, topic, message, options)
        if no_confirm:
            return Confirmation(transport, topic, future)
        return await transport.confirm(topic, future)

    async def publish_batch(
        self,
        *messages: Any,
        topic: str,
        no_confirm: bool = False,
        **options: Unpack[PublishOptions],
    ) -> Any:
        """Publish ``messages`` as one batch to one partition (``partition``, else the
        key's, else a random one), so they keep their order.

        Returns the metadata of the batch's first record (or its future).
        """
        if not messages:
            raise SetupError("publish_batch() needs at least one message")
        return await self._publish_chain(
            PublishCommand.of(
                None,
                topic,
                options,
                reply_to=options.get("reply_to", ""),
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
        **options: Unpack[RequestOptions],
    ) -> KafkaMessage:
        """Publish ``message`` and wait for the reply of the service that handles it.

        The broker listens on a reply topic of its own (created on first use) and
        matches the reply by ``correlation_id``. Raises ``RequestTimeout`` (a
        ``TimeoutError``) after ``timeout`` seconds, leaving nothing behind.
        """
        if not topic:
            raise SetupError("request() needs a topic: broker.request(body, 'rpc')")
        return await self._request(
            PublishCommand.of(message, topic, options, publish_type=PublishType.REQUEST), timeout
        )

    async def _request(self, cmd: PublishCommand, timeout: float) -> KafkaMessage:
        transport = self._connected_transport()
        if self._replies is None:
            tasks = TaskGroup(repr(self), self.supervision, self.logger, self._task_failed)
            self._replies = ReplyListener(self.options.client_id, self.logger, tasks)
        return await self._replies.request(transport, self._publish_chain, cmd, timeout)

    @property
    def producer(self) -> Producer:
        """The way to Kafka below the broker's middlewares (the ``KafkaProducer``
        handler annotation of :mod:`topicflow.kafka.annotations`)."""
        return Producer(self)

    @property
    def pending_requests(self) -> int:
        """How many ``request()`` calls are waiting for a reply."""
        return len(self._replies.pending) if self._replies is not None else 0

    async def _publish_chain(self, cmd: PublishCommand) -> Any:
        if not self._middlewares:  # nothing watches publishes: no chain to go through
            return await send(self._connected_transport(), cmd)
        publish = wrap_publish(self._runtime.send, tuple(self._middlewares), self.context)
        return await publish(cmd)

    def _connected_transport(self) -> Transport:
        if self._transport is None:
            raise SetupError(
                "the broker is not connected: use 'async with broker:', "
                "'await broker.connect()' or 'await broker.start()' first"
            )
        return self._transport


class Producer:
    """Sends :class:`~topicflow.kafka.PublishCommand`\\ s as they are, past the broker's
    middlewares: what FastStream's ``KafkaProducer`` annotation gives a handler.

    ``await producer.publish(PublishCommand("hi", topic="t"))`` returns the
    record's metadata (or its future, with ``no_confirm=True``).
    """

    def __init__(self, broker: Publishing) -> None:
        self._broker = broker

    async def publish(self, cmd: PublishCommand) -> Any:
        """Publish one command (its ``batch``, if it has one, as one batch)."""
        return await send(self._broker._connected_transport(), cmd)

    async def publish_batch(self, cmd: PublishCommand) -> Any:
        """Publish a batch command: the same as :meth:`publish`."""
        return await self.publish(cmd)

    async def request(self, cmd: PublishCommand) -> KafkaMessage:
        """Publish and wait ``cmd.timeout`` seconds for the reply."""
        return await self._broker._request(cmd, cmd.timeout)

    async def flush(self) -> None:
        """Wait until everything queued was sent."""
        await self._broker._connected_transport().flush()

    @property
    def closed(self) -> bool:
        """True while the broker is not connected."""
        return self._broker._transport is None
