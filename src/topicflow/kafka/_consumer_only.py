"""The transport of ``KafkaBroker(consumer_only=True)``: consumers, and no publishing.

It wraps whichever transport the broker connects with (the real one, which then
starts no producer, or a test broker's) and refuses every publish with a
:class:`~topicflow.exceptions.SetupError` that names the option.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NoReturn

from topicflow.exceptions import SetupError

if TYPE_CHECKING:
    import asyncio
    from collections.abc import Sequence

    from topicflow.kafka._seam import ConsumerTransport, Headers, RebalanceHandler, Transport
    from topicflow.kafka._transport import ConsumerSpec, RecordMetadata
    from topicflow.kafka.topic import Topic

__all__ = ["ConsumerOnly"]


class ConsumerOnly:
    """A :class:`~topicflow.kafka._seam.Transport` that only consumes."""

    def __init__(self, inner: Transport) -> None:
        self.inner = inner

    def _refuse(self, topic: str) -> NoReturn:
        raise SetupError(
            f"cannot publish to {topic!r}: the broker was made with consumer_only=True, so "
            "it has no producer; drop consumer_only=True to publish (replies and "
            "@publisher results publish too)"
        )

    async def connect(self) -> None:
        await self.inner.connect()

    async def close(self) -> None:
        await self.inner.close()

    async def ping(self, timeout: float) -> bool:
        return await self.inner.ping(timeout)

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
        self._refuse(topic)

    async def confirm(self, topic: str, future: asyncio.Future[RecordMetadata]) -> RecordMetadata:
        return await self.inner.confirm(topic, future)

    def failure(self, topic: str, exc: BaseException) -> BaseException:
        return self.inner.failure(topic, exc)

    async def send_batch(
        self,
        topic: str,
        records: Sequence[tuple[bytes | None, bytes | None, Headers]],
        *,
        partition: int | None,
        timestamp_ms: int | None,
    ) -> asyncio.Future[RecordMetadata]:
        self._refuse(topic)

    async def flush(self) -> None:
        await self.inner.flush()

    def consumer(self, spec: ConsumerSpec, rebalance: RebalanceHandler) -> ConsumerTransport:
        return self.inner.consumer(spec, rebalance)

    async def create_topics(self, topics: Sequence[Topic]) -> None:
        await self.inner.create_topics(topics)
