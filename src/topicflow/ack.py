"""Acknowledgement: the policies, the outcomes, and the offset bookkeeping they drive.

A Kafka consumer group stores one number per partition: the offset of the next
record to read. Committing that number claims that *every* record before it
was handled. topicflow therefore never commits a position past a message that
is not finished yet. This module is the one place that decides what may be
committed:

* each message handed to a subscriber's pipeline is *begun* on its partition's
  :class:`PartitionTracker`, in delivery order;
* the pipeline's :class:`Outcome` is booked with :meth:`PartitionTracker.settle`;
  a finished message (acked, rejected, poison, skipped) may be committed, a
  nacked one rewinds the partition to it, a pending one waits for a later
  decision (``msg.ack()``, a publish confirmation);
* the :class:`OffsetCommitter` sends the position after the highest *contiguous*
  finished message of each partition to Kafka, in batches (by count and by
  time) and on demand (partition revoke, shutdown). Its :meth:`~OffsetCommitter.flush`
  is the one call of the client's commit.
"""

from __future__ import annotations

import asyncio
import enum
import time
from collections import deque
from typing import TYPE_CHECKING, Protocol

from topicflow.exceptions import TopicflowError

if TYPE_CHECKING:
    import logging
    from collections.abc import Iterable, Mapping, Sequence

    from topicflow.kafka._transport import TopicPartition

__all__ = ["AckPolicy", "Committer", "OffsetCommitter", "Outcome", "PartitionTracker"]

#: Commit after this many finished messages, even before the interval is up.
COMMIT_EVERY = 1000


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


class Outcome(enum.StrEnum):
    """What became of one consumed message (or batch): what a pipeline returns.

    Attributes:
        ACK: handled; finished.
        REJECT: failed, not to be delivered again; finished.
        POISON: its body could not be decoded or validated; finished, never
            delivered again.
        SKIP: no handler's ``filter=`` accepted it; finished.
        NACK: to be delivered again; its partition is rewound to it.
        PENDING: not decided yet (``AckPolicy.MANUAL``, or publishes of its
            handler's result awaiting the cluster's confirmation); settled later.
    """

    ACK = "acked"
    REJECT = "rejected"
    POISON = "poison"
    SKIP = "skipped"
    NACK = "nacked"
    PENDING = "pending"


_ACK = Outcome.ACK
_PENDING = Outcome.PENDING
#: The outcomes that finish a message.
_FINISHED = frozenset((Outcome.ACK, Outcome.REJECT, Outcome.POISON, Outcome.SKIP))

#: What a handler's error means under each policy (MANUAL: the handler decides).
ON_ERROR: Mapping[AckPolicy, Outcome] = {
    AckPolicy.ACK_FIRST: Outcome.ACK,
    AckPolicy.ACK: Outcome.ACK,
    AckPolicy.REJECT_ON_ERROR: Outcome.REJECT,
    AckPolicy.NACK_ON_ERROR: Outcome.NACK,
    AckPolicy.MANUAL: Outcome.PENDING,
}


class _Cadence:
    """Finished messages since the last commit, shared by one consumer's trackers."""

    __slots__ = ("count", "wake")

    def __init__(self) -> None:
        self.count = 0
        self.wake = asyncio.Event()


class PartitionTracker:
    """Offsets of one partition, in delivery order, and the committable position.

    ``begin`` is called when a record is handed to a pipeline, ``settle`` with
    its outcome. Kafka offsets are not always consecutive (compaction,
    transaction markers), so contiguity is judged on the offsets actually
    delivered, not on integers.
    """

    __slots__ = ("_attempts", "_cadence", "_done", "_pending", "generation", "position")

    def __init__(self, cadence: _Cadence | None = None) -> None:
        self._pending: deque[int] = deque()
        self._done: set[int] = set()
        #: Shared with the other trackers of its consumer (its own when alone).
        self._cadence = cadence if cadence is not None else _Cadence()
        #: Nacks so far of each offset awaiting its redelivery.
        self._attempts: dict[int, int] = {}
        #: Offset after the highest contiguous finished message; None before the first.
        self.position: int | None = None
        #: Bumped by every rewind: records handed out before it are delivered again.
        self.generation = 0

    def begin(self, offset: int) -> None:
        """Record that ``offset`` was delivered and is not finished yet."""
        self._pending.append(offset)

    def settle(self, offset: int, outcome: Outcome, begun: bool = True) -> bool:
        """Book ``outcome`` for the delivered message at ``offset``: the one place where
        an outcome becomes bookkeeping.

        A finished outcome (ack, reject, poison, skip) lets the position pass it
        once everything delivered before it is finished too; ``NACK`` rewinds the
        partition to it and returns False (the caller delivers it again);
        ``PENDING`` keeps it unfinished until a later call settles it.

        ``begun``: the message was begun (:meth:`begin`) when it was handed out.
        Then an outcome for an offset that is no longer pending (finished
        already, as under ``ACK_FIRST``, or forgotten by a rewind) changes
        nothing. A message handed out in partition order, the only one of its
        partition in flight, need not be begun (``begun=False``): its caller
        checks that no rewind came in between (``generation``).
        """
        pending = self._pending
        if not (begun or pending) and outcome is _ACK:
            # The usual case, unrolled: acked in order, nothing else in flight.
            self.position = offset + 1
            if self._attempts:
                self._attempts.pop(offset, None)
            cadence = self._cadence
            cadence.count += 1
            if cadence.count >= COMMIT_EVERY:
                cadence.wake.set()
            return True
        if outcome is _ACK or outcome in _FINISHED:
            if not begun:
                pending.append(offset)  # behind an older message still pending
            # finish(), unrolled for the usual case: the oldest message in flight.
            if pending and pending[0] == offset:
                pending.popleft()
                self.position = offset + 1
                if pending and self._done:
                    self._advance_done()
                if self._attempts:
                    self._attempts.pop(offset, None)
                self._count(1)
            else:
                self.finish(offset)
            return True
        if outcome is _PENDING:
            if not begun:
                pending.append(offset)
            return True
        if begun and offset not in pending:
            return True
        self._attempts[offset] = self._attempts.get(offset, 0) + 1  # a NACK
        self.rewind(offset)
        return False

    def finish(self, offset: int) -> None:
        """Record that ``offset`` is finished, advancing the position if it can."""
        pending = self._pending
        if pending and pending[0] == offset:
            pending.popleft()
            self.position = offset + 1
            self._advance_done()
        elif offset in pending:
            self._done.add(offset)
        else:
            return  # not pending: finished already, or forgotten by a rewind
        if self._attempts:
            self._attempts.pop(offset, None)
        self._count(1)

    def _advance_done(self) -> None:
        """Move the position past the finished messages that are now at the front."""
        pending = self._pending
        done = self._done
        while pending and pending[0] in done:
            finished = pending.popleft()
            done.discard(finished)
            self.position = finished + 1

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
            and not self._attempts
            and len(pending) == len(offsets)
            and pending[0] == offsets[0]
            and pending[-1] == offsets[-1]
        ):
            pending.clear()
            self._done.clear()
            self.position = offsets[-1] + 1
            self._count(len(offsets))
            return
        for offset in offsets:
            self.finish(offset)

    def settle_many(self, offsets: Sequence[int], outcome: Outcome) -> bool:
        """:meth:`settle` for a batch's offsets of this partition: all finished together,
        or (``NACK``) the partition rewound to the first of them (returns False)."""
        if not offsets or outcome is Outcome.PENDING:
            return True
        if outcome is Outcome.NACK:
            return self.settle(offsets[0], outcome)
        self.finish_many(offsets)
        return True

    def rewind(self, offset: int) -> None:
        """Forget ``offset`` and everything delivered after it (they come again)."""
        pending = self._pending
        while pending and pending[-1] >= offset:
            self._done.discard(pending.pop())
        self.generation += 1

    def first_unfinished(self, first: int) -> int:
        """Where to read again from, after a batch starting at ``first`` was cut short:
        its first offset that is not finished (the next one when all begun are)."""
        resume = first
        done = self._done
        for offset in self._pending:
            if offset >= first:
                if offset not in done:
                    return offset
                resume = offset + 1
        position = self.position
        return position if position is not None and position > resume else resume

    def attempts(self, offset: int) -> int:
        """How many times ``offset`` was nacked since it was last finished."""
        return self._attempts.get(offset, 0)

    @property
    def in_flight(self) -> int:
        """How many delivered messages are not finished yet."""
        return len(self._pending)

    def _count(self, finished: int) -> None:
        cadence = self._cadence
        cadence.count += finished
        if cadence.count >= COMMIT_EVERY:
            cadence.wake.set()


class Committer(Protocol):
    """What :class:`OffsetCommitter` commits through: the group's consumer."""

    async def commit(self, offsets: Mapping[TopicPartition, int]) -> None:
        """Commit exactly these positions; raises CommitError."""


class OffsetCommitter:
    """The trackers of one consumer's partitions, and the commits of their positions.

    Commits every ``interval`` seconds, sooner after :data:`COMMIT_EVERY`
    finished messages, and whenever :meth:`flush` is awaited. Only positions
    that moved since the last successful commit are sent. A failed commit is
    logged and retried on the next round: the worst outcome is that messages
    are delivered again, never that one is skipped. Without a ``consumer``
    (a consumer outside any group) the trackers are kept and nothing is committed.
    """

    def __init__(
        self,
        consumer: Committer | None,
        *,
        logger: logging.Logger | None,
        interval: float = 1.0,
    ) -> None:
        self._consumer = consumer
        self._logger = logger
        self._interval = interval
        self._trackers: dict[TopicPartition, PartitionTracker] = {}
        self._committed: dict[TopicPartition, int] = {}
        self._cadence = _Cadence()
        self._lock = asyncio.Lock()

    @property
    def commits(self) -> bool:
        """True when positions are committed (the consumer belongs to a group)."""
        return self._consumer is not None

    def tracker(self, tp: TopicPartition) -> PartitionTracker:
        """The tracker of ``tp``, created on first use."""
        tracker = self._trackers.get(tp)
        if tracker is None:
            tracker = self._trackers[tp] = PartitionTracker(self._cadence)
        return tracker

    def current(self, tp: TopicPartition) -> PartitionTracker | None:
        """The tracker of ``tp`` if it has one now (None once it was forgotten)."""
        return self._trackers.get(tp)

    def forget(self, tps: Iterable[TopicPartition]) -> None:
        """Drop the state of partitions this consumer no longer owns."""
        for tp in tps:
            tracker = self._trackers.pop(tp, None)
            if tracker is not None:
                tracker.generation += 1  # what is still in flight for it is stale now
            self._committed.pop(tp, None)

    def committed(self) -> dict[TopicPartition, int]:
        """Positions committed so far by this committer."""
        return dict(self._committed)

    async def flush(self, tps: Iterable[TopicPartition] | None = None) -> bool:
        """Commit the moved positions (of ``tps`` only, when given) now.

        Returns False when the commit failed (it is logged).
        """
        consumer = self._consumer
        if consumer is None:
            return True
        async with self._lock:
            wanted = self._trackers.keys() if tps is None else tps
            offsets: dict[TopicPartition, int] = {}
            for tp in wanted:
                tracker = self._trackers.get(tp)
                if tracker is None or tracker.position is None:
                    continue
                if self._committed.get(tp) != tracker.position:
                    offsets[tp] = tracker.position
            if tps is None:
                self._cadence.count = 0
            if not offsets:
                return True
            try:
                await consumer.commit(offsets)
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
        wake = self._cadence.wake
        while True:
            deadline = time.monotonic() + self._interval
            while not wake.is_set():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    await asyncio.wait_for(wake.wait(), remaining)
                except TimeoutError:
                    break
            wake.clear()
            await self.flush()


def _describe(offsets: Mapping[TopicPartition, int]) -> str:
    return ", ".join(f"{tp.topic}[{tp.partition}]@{offset}" for tp, offset in offsets.items())
