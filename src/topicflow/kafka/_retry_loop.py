"""The consumer of a subscriber's retry topics: records handed out once they are due.

A subscriber with ``retry=`` (not blocking) runs one :class:`RetryLoop` beside its
own consumer(s), in the same consumer group, subscribed to its retry topics only,
so its main partitions never wait for a retry. Each retry record carries its due
time (``topicflow-retry-due``); a partition whose next record is not due yet is
sought back to it and paused until then (:meth:`RetryLoop.hold`): the consumer
keeps polling (its other partitions, heartbeats), so a long delay never breaks
``max_poll_interval_ms``. A retry topic holds one delay, so its records fall due
in the order they were written. Due records go through the subscriber's pipeline
(and its retry layer, which sends a record failing again to the next retry topic
or to the dead-letter topic), one at a time per partition.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from topicflow._tasks import PACE
from topicflow.ack import Outcome
from topicflow.kafka._loop import ConsumerLoop
from topicflow.kafka._retry import due_of
from topicflow.kafka.message import KafkaMessage

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from topicflow.kafka._transport import ConsumerRecord, TopicPartition

    Batches = Mapping[TopicPartition, Sequence[ConsumerRecord[bytes, bytes]]]

__all__ = ["RetryLoop", "dispatch_due"]

_PENDING = Outcome.PENDING


class RetryLoop(ConsumerLoop):
    """A :class:`ConsumerLoop` over retry topics (its dispatch is :func:`dispatch_due`)."""

    def hold(self, tp: TopicPartition, offset: int, delay: float) -> None:
        """Fetch ``tp`` from ``offset`` again in ``delay`` seconds, not before."""
        consumer = self.consumer
        if consumer is None:
            return
        consumer.seek(tp, offset)
        consumer.pause(tp)
        handles = self._resume_handles
        previous = handles.pop(tp, None)
        if previous is not None:
            previous.cancel()
        handles[tp] = asyncio.get_running_loop().call_later(delay, self._resume, tp)


async def dispatch_due(loop: ConsumerLoop, batches: Batches) -> None:
    """Hand due retry records to the pipeline, in partition order; hold the rest."""
    assert isinstance(loop, RetryLoop)
    pipeline = loop.pipeline
    epoch = loop.epoch
    clock, pace, now = time.monotonic, PACE, time.time
    for tp, records in batches.items():
        tracker = loop.tracker(tp)
        generation = tracker.generation
        for record in records:
            if clock() >= pace.due:
                await loop.breathe()
            if loop.epoch != epoch or tracker.generation != generation:
                break  # revoked, stopping, or rewound: the rest comes again
            wait = due_of(record) - now()
            if wait > 0:
                loop.hold(tp, record.offset, wait)
                break
            offset = record.offset
            msg = KafkaMessage(record)
            outcome = await pipeline(msg)
            if tracker.generation != generation:
                break
            if outcome is _PENDING:
                tracker.settle(offset, outcome, False)
                loop.settle_later(tracker, tp, offset, msg)
            elif not tracker.settle(offset, outcome, False):
                loop.redeliver(tp, offset)  # nacked (its write to the next topic failed)
                break
