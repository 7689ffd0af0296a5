"""request()/reply over real Kafka: a reply topic of the broker's own.

On the first ``request()`` the broker starts a consumer (no group) on a new
topic named after its client id and a random suffix. Each request is sent with
``reply_to`` set to that topic and a fresh ``correlation_id``; replies are
matched back by ``correlation_id``. A request that times out leaves nothing
behind; a reply that arrives after its timeout is dropped with a debug log.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import TYPE_CHECKING, Any

from topicflow._tasks import Backoff
from topicflow.exceptions import RequestTimeout
from topicflow.kafka._loop import ConsumerLoop
from topicflow.kafka._publish import new_correlation_id
from topicflow.kafka._transport import ConsumerSpec
from topicflow.kafka.message import KafkaMessage

if TYPE_CHECKING:
    import logging
    from collections.abc import Awaitable, Callable, Mapping, Sequence

    from topicflow._tasks import TaskGroup
    from topicflow.kafka._publish import PublishCommand
    from topicflow.kafka._seam import Transport
    from topicflow.kafka._transport import ConsumerRecord, TopicPartition

__all__ = ["ReplyListener"]


class ReplyListener:
    """The broker's reply topic, its consumer, and the requests waiting for a reply."""

    def __init__(
        self, client_id: str | None, logger: logging.Logger | None, tasks: TaskGroup
    ) -> None:
        self.topic = f"{client_id or 'topicflow'}-replies-{uuid.uuid4().hex[:12]}"
        self._logger = logger
        self._tasks = tasks
        self._loop: ConsumerLoop | None = None
        self._starting: asyncio.Lock = asyncio.Lock()
        #: correlation_id -> the future its caller awaits.
        self.pending: dict[str, asyncio.Future[KafkaMessage]] = {}

    async def request(
        self,
        transport: Transport,
        send: Callable[[PublishCommand], Awaitable[Any]],
        cmd: PublishCommand,
        timeout: float,
    ) -> KafkaMessage:
        """Send ``cmd`` with ``reply_to`` set, and return the reply within ``timeout``."""
        await self._ensure_started(transport)
        cmd.reply_to = self.topic
        cmd.correlation_id = cmd.correlation_id or new_correlation_id()
        future: asyncio.Future[KafkaMessage] = asyncio.get_running_loop().create_future()
        self.pending[cmd.correlation_id] = future
        try:
            async with asyncio.timeout(timeout):
                await send(cmd)
                return await future
        except TimeoutError:
            raise RequestTimeout(
                f"no reply from {cmd.topic!r} within {timeout}s (correlation_id "
                f"{cmd.correlation_id}); is a subscriber of that topic running?"
            ) from None
        finally:
            self.pending.pop(cmd.correlation_id, None)

    async def _ensure_started(self, transport: Transport) -> None:
        async with self._starting:
            if self._loop is not None:
                return
            loop = ConsumerLoop(
                ConsumerSpec(
                    topics=(self.topic,),
                    group_id=None,
                    options={"auto_offset_reset": "earliest"},
                ),
                self._deliver,
                pipeline=None,
                tasks=self._tasks,
                name=f"replies {self.topic}",
                logger=self._logger,
                graceful_timeout=1.0,
                backoff=Backoff(),
                fetch_timeout_ms=100,
                max_records=None,
                commit_interval=5.0,
            )
            await loop.start(transport)
            self._loop = loop

    async def _deliver(
        self,
        loop: ConsumerLoop,
        batches: Mapping[TopicPartition, Sequence[ConsumerRecord[bytes, bytes]]],
    ) -> None:
        for records in batches.values():
            for record in records:
                msg = KafkaMessage(record)
                correlation_id = msg.header("correlation_id") or ""
                future = self.pending.get(correlation_id)
                if future is None or future.done():
                    if self._logger is not None:
                        self._logger.debug(
                            "reply %s (correlation_id %s) came after its request timed "
                            "out; dropped",
                            msg.message_id,
                            correlation_id,
                        )
                    continue
                future.set_result(msg)

    @property
    def healthy(self) -> bool:
        """False while its fetch task restarts after a crash, and once it died."""
        return self._tasks.healthy and (self._loop is None or self._loop.healthy)

    async def stop(self, timeout: float) -> None:
        """Stop the reply consumer and its tasks (waiting requests time out on their own)."""
        loop, self._loop = self._loop, None
        if loop is not None:
            await loop.stop()
        await self._tasks.stop(timeout)
