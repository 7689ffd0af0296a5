"""A message whose handler returned while what it published awaits the cluster's
confirmation: finished once every publish is confirmed (or failed)."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from topicflow.ack import Outcome

if TYPE_CHECKING:
    from topicflow.ack import PartitionTracker
    from topicflow.kafka._loop import ConsumerLoop
    from topicflow.kafka._transport import TopicPartition

__all__ = ["Unconfirmed"]


class Unconfirmed:
    """One message waiting for the confirmations of what its handler published."""

    __slots__ = ("_failure", "_left", "_loop", "_offset", "_tp", "_tracker")

    def __init__(
        self,
        loop: ConsumerLoop,
        tracker: PartitionTracker,
        tp: TopicPartition,
        offset: int,
        left: int,
    ) -> None:
        self._loop = loop
        self._tracker = tracker
        self._tp = tp
        self._offset = offset
        self._left = left
        self._failure: BaseException | None = None

    def confirmed(self, future: asyncio.Future[Any]) -> None:
        self._loop._unconfirmed.discard(future)
        if self._failure is None:
            if future.cancelled():
                self._failure = asyncio.CancelledError()
            else:
                self._failure = future.exception()
        self._left -= 1
        if self._left:
            return
        if self._failure is not None:
            tp = self._tp
            transport = self._loop.transport
            failure = self._failure
            if transport is not None:
                failure = transport.failure("", failure)
            self._loop._log(
                logging.ERROR,
                "%s: publishing what the handler returned for %s[%d]@%d failed: %s: %s; "
                "the message counts as handled",
                self._loop.name,
                tp.topic,
                tp.partition,
                self._offset,
                type(failure).__name__,
                failure,
            )
        self._tracker.settle(self._offset, Outcome.ACK)
