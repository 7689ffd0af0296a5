"""Consuming without a handler: ``await sub.get_one()`` and ``async for msg in sub``.

A subscriber without a handler has this as its pipeline (``_enqueue``): each
message waits in a queue of one for ``get_one()``, and is settled when the next
one is taken (or, under ``AckPolicy.MANUAL``, by the caller).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from topicflow.ack import AckPolicy, Outcome
from topicflow.exceptions import SetupError

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from topicflow.kafka.message import KafkaMessage

__all__ = ["Handlerless"]


class Handlerless:
    """The handler-less half of :class:`~topicflow.kafka._subscriber.Subscriber`."""

    _handlers: list[Any]
    _policy: AckPolicy
    _queue: asyncio.Queue[KafkaMessage] | None
    _current: KafkaMessage | None

    async def _enqueue(self, msg: KafkaMessage) -> Outcome:
        """The pipeline of a subscriber without a handler: messages wait for get_one()."""
        assert self._queue is not None
        await self._queue.put(msg)
        return Outcome.PENDING

    async def get_one(self, *, timeout: float = 5.0) -> KafkaMessage | None:
        """The next message, or None after ``timeout`` seconds (handler-less subscribers).

        Under every policy but MANUAL, the previous message counts as acked when the
        next one is asked for or the subscriber stops; MANUAL: ``ack()``, ``nack()``, ``reject()``.
        """
        if self._handlers:
            raise SetupError(f"{self!r} has a handler; get_one() is for subscribers without one")
        if self._queue is None:
            raise SetupError(f"{self!r} is not started: await sub.start() first")
        self._release_current()
        try:
            msg = await asyncio.wait_for(self._queue.get(), timeout)
        except TimeoutError:
            return None
        self._current = msg
        return msg

    def _release_current(self) -> None:
        current, self._current = self._current, None
        if current is not None and self._policy is not AckPolicy.MANUAL:
            current.decide(Outcome.ACK)

    async def __aiter__(self) -> AsyncIterator[KafkaMessage]:
        """``async for msg in sub``: messages until the subscriber stops."""
        while self._queue is not None:
            msg = await self.get_one(timeout=0.5)
            if msg is not None:
                yield msg
