"""Acknowledgement: the policies, and the per-partition offset tracker.

A Kafka consumer group stores one number per partition: the offset of the next
record to read. Committing that number claims that *every* record before it
was handled. topicflow therefore never commits a position past a message that
is not finished yet: each partition has a :class:`PartitionTracker` that knows
the offsets delivered to handlers in order, which of them are finished, and so
the offset after the highest *contiguous* finished message. The
:class:`OffsetCommitter` sends those positions to Kafka in batches (by count
and by time) and on demand (partition revoke, shutdown).
"""

from __future__ import annotations

import asyncio
import enum
import time
from collections import deque
from typing import TYPE_CHECKING

from topicflow.exceptions import TopicflowError

if TYPE_CHECKING:
    import logging
    from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence

    from topicflow.kafka._transport import TopicPartition

__all__ = ["AckPolicy", "OffsetCommitter", "PartitionTracker"]


class AckPolicy(enum.StrEnum):
    """When a consumed message counts as finished, so its offset may be committed.

    Attributes:
        ACK_FIRST: finished as soon as it is received, before the handler runs
            (at-most-once).
        ACK: finished when the handler returns or raises (at-least-once; the default).
        REJECT_ON_ERROR: acked on success, rejected (finished, logged) on error.
        NACK_ON_ERROR: acked on success; on error its partition is rewound to it
            and it is delivered again after a backoff.
        MANUAL: the handler decides with ``await msg.ack()``, ``nack()`` or ``reject()``.
    """

    ACK_FIRST = "ack_first"
    ACK = "ack"
    REJECT_ON_ERROR = "reject_on_error"
    NACK_ON_ERROR = "nack_on_error"
    MANUAL = "manual"


class PartitionTracker:
    """Offsets of one partition, in delivery order, and the committable position.

    ``begin`` is called when a record is handed to the framework, ``finish``
    when it is acked or rejected. Kafka offsets are not always consecutive
    (compaction, transaction markers), so contiguity is judged on the offsets
    actually delivered, not on integers.
    """

    __slots__ = ("_done", "_pending", "position")

    def __init__(self) -> None:
        self._pending: deque[int] = deque()
        self._done: set[int] = set()
        #: Offset after the highest contiguous finished message; None before the first.
        self.position: int | None = None

    def begin(self, offset: int) -> None:
        """Record that ``offset`` was delivered and is not finished yet."""
        self._pending.append(offset)

    def finish(self, offset: int) -> None:
        """Record that ``offset`` is finished, advancing the position if it can."""
        pending = self._pending
        if not pending or pending[0] != offset:
            if offset in pending:
                self._done.add(offset)
            return
        pending.popleft()
        self.position = offset + 1
        done = self._done
        while pending and pending[0] in done:
            finished = pending.popleft()
            done.discard(finished)
            self.position = finished + 1

    def advance(self, offset: int) -> None:
        """``begin`` and ``finish`` of ``offset`` at once, for one-at-a-time handling.

        With nothing else pending (the usual case: a partition's messages handled
        in order, each finished before the next), this only moves the position.
        """
        if self._pending:
            self._pending.append(offset)
            self.finish(offset)
        else:
            self.position = offset + 1

    def begin_many(self, offsets: Iterable[int]) -> None:
        """``begin`` for each of ``offsets`` (in delivery order)."""
        self._pending.extend(offsets)

    def finish_many(self, offsets: Sequence[int]) -> None:
        """``finish`` for each of ``offsets`` (in delivery order)."""
        pending = self._pending
        # Most often they are exactly what is pending (a batch, handled whole):
        # pending only grows in delivery order, so equal length and ends mean equal.
        if (
            offsets
            and len(pending) == len(offsets)
            and pending[0] == offsets[0]
            and pending[-1] == offsets[-1]
        ):
            pending.clear()
            self._done.clear()
            self.position = offsets[-1] + 1
            return
        for offset in offsets:
            self.finish(offset)

    def rewind(self, offset: int) -> None:
        """Forget ``offset`` and everything delivered after it (they come again)."""
        pending = self._pending
        while pending and pending[-1] >= offset:
            self._done.discard(pending.pop())

    @property
    def in_flight(self) -> int:
        """How many delivered messages are not finished yet."""
        return len(self._pending)


class OffsetCommitter:
    """Commits the trackers' positions: every ``interval`` seconds, sooner after
    ``max_pending`` finished messages, and whenever :meth:`flush` is awaited.

    Only positions that moved since the last successful commit are sent. A
    failed commit is logged and retried on the next round: the worst outcome is
    that messages are delivered again, never that one is skipped.
    """

    def __init__(
        self,
        commit: Callable[[Mapping[TopicPartition, int]], Awaitable[None]],
        *,
        logger: logging.Logger | None,
        interval: float = 1.0,
        max_pending: int = 1000,
    ) -> None:
        self._commit = commit
        self._logger = logger
        self._interval = interval
        self._max_pending = max_pending
        self._trackers: dict[TopicPartition, PartitionTracker] = {}
        self._committed: dict[TopicPartition, int] = {}
        self._finished_since_commit = 0
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()

    def tracker(self, tp: TopicPartition) -> PartitionTracker:
        """The tracker of ``tp``, created on first use."""
        tracker = self._trackers.get(tp)
        if tracker is None:
            tracker = self._trackers[tp] = PartitionTracker()
        return tracker

    def note_finished(self, count: int = 1) -> None:
        """Count finished messages; wakes the commit loop once enough piled up."""
        self._finished_since_commit += count
        if self._finished_since_commit >= self._max_pending:
            self._wake.set()

    def forget(self, tps: Iterable[TopicPartition]) -> None:
        """Drop the state of partitions this consumer no longer owns."""
        for tp in tps:
            self._trackers.pop(tp, None)
            self._committed.pop(tp, None)

    def committed(self) -> dict[TopicPartition, int]:
        """Positions committed so far by this committer."""
        return dict(self._committed)

    async def flush(self, tps: Iterable[TopicPartition] | None = None) -> bool:
        """Commit the moved positions (of ``tps`` only, when given) now.

        Returns False when the commit failed (it is logged).
        """
        async with self._lock:
            wanted = self._trackers.keys() if tps is None else tps
            offsets: dict[TopicPartition, int] = {}
            for tp in wanted:
                tracker = self._trackers.get(tp)
                if tracker is None or tracker.position is None:
                    continue
                if self._committed.get(tp) != tracker.position:
                    offsets[tp] = tracker.position
            if not offsets:
                return True
            if tps is None:
                self._finished_since_commit = 0
            try:
                await self._commit(offsets)
            except TopicflowError as exc:
                if self._logger is not None:
                    self._logger.warning(
                        "offset commit of %s failed: %s; the messages after the last "
                        "committed offset may be delivered again",
                        _describe(offsets),
                        exc,
                    )
                return False
            self._committed.update(offsets)
            return True

    async def run(self) -> None:
        """Commit periodically until cancelled (the owner flushes once more after)."""
        while True:
            deadline = time.monotonic() + self._interval
            while not self._wake.is_set():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    await asyncio.wait_for(self._wake.wait(), remaining)
                except TimeoutError:
                    break
            self._wake.clear()
            await self.flush()


def _describe(offsets: Mapping[TopicPartition, int]) -> str:
    return ", ".join(f"{tp.topic}[{tp.partition}]@{offset}" for tp, offset in offsets.items())
