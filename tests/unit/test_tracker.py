"""The per-partition offset tracker: never a position past an unfinished message."""

from __future__ import annotations

from typing import Any

import pytest

from topicflow.ack import OffsetCommitter, Outcome, PartitionTracker
from topicflow.exceptions import CommitError
from topicflow.kafka import TopicPartition


def test_in_order_finishing_advances_the_position() -> None:
    tracker = PartitionTracker()
    assert tracker.position is None
    for offset in (0, 1, 2):
        tracker.begin(offset)
        tracker.finish(offset)
    assert tracker.position == 3
    assert tracker.in_flight == 0


def test_position_stops_at_the_first_unfinished_message() -> None:
    tracker = PartitionTracker()
    for offset in range(10):
        tracker.begin(offset)
    for offset in (0, 1, 2, 3, 4, 6, 7, 8, 9):  # 5 is still running
        tracker.finish(offset)
    assert tracker.position == 5
    tracker.finish(5)
    assert tracker.position == 10


def test_an_in_order_ack_moves_the_position_of_one_at_a_time_handling() -> None:
    tracker = PartitionTracker()
    for offset in (0, 1, 3):  # a gap, as on a compacted topic
        tracker.settle(offset, Outcome.ACK, False)  # in order, not begun
        assert tracker.position == offset + 1
    assert tracker.in_flight == 0


def test_an_in_order_ack_never_passes_a_message_still_running() -> None:
    tracker = PartitionTracker()
    tracker.begin(4)  # handled elsewhere, not finished
    tracker.settle(5, Outcome.ACK, False)
    assert tracker.position is None
    tracker.finish(4)
    assert tracker.position == 6
    assert tracker.in_flight == 0


def test_a_batch_finished_whole_moves_the_position_past_it() -> None:
    tracker = PartitionTracker()
    tracker.begin_many([3, 4, 6])  # offsets may have gaps
    assert tracker.in_flight == 3
    tracker.finish_many([3, 4, 6])
    assert tracker.position == 7
    assert tracker.in_flight == 0


def test_a_batch_finished_in_part_stops_at_what_is_still_running() -> None:
    tracker = PartitionTracker()
    tracker.begin_many(range(6))
    tracker.finish(1)
    tracker.finish_many([0, 2, 3])  # 4 is still running, 1 was finished before
    assert tracker.position == 4
    tracker.finish_many([4, 5])
    assert tracker.position == 6
    assert tracker.in_flight == 0


def test_gaps_in_offsets_are_not_waited_for() -> None:
    tracker = PartitionTracker()  # a compacted topic: offsets 3 and 4 do not exist
    for offset in (1, 2, 5):
        tracker.begin(offset)
    tracker.finish(5)
    tracker.finish(2)
    assert tracker.position is None  # 1 is unfinished
    tracker.finish(1)
    assert tracker.position == 6


def test_rewind_forgets_the_message_and_those_after_it() -> None:
    tracker = PartitionTracker()
    for offset in range(5):
        tracker.begin(offset)
    tracker.finish(0)
    tracker.finish(3)
    tracker.rewind(2)
    assert tracker.in_flight == 1  # only 1 is still pending
    tracker.finish(3)  # a late finish of a forgotten offset changes nothing
    tracker.finish(1)
    assert tracker.position == 2


class _Recorder:
    """Stands for the group's consumer: records what is committed through it."""

    def __init__(self, fail: bool = False) -> None:
        self.commits: list[dict[Any, int]] = []
        self.fail = fail

    async def commit(self, offsets: Any) -> None:
        if self.fail:
            raise CommitError("rebalance in progress")
        self.commits.append(dict(offsets))


async def test_committer_sends_only_moved_positions() -> None:
    sink = _Recorder()
    committer = OffsetCommitter(sink, logger=None)
    a, b = TopicPartition("t", 0), TopicPartition("t", 1)
    for tp in (a, b):
        committer.tracker(tp).begin(0)
        committer.tracker(tp).finish(0)
    assert await committer.flush()
    committer.tracker(a).begin(1)
    committer.tracker(a).finish(1)
    assert await committer.flush()
    assert await committer.flush()  # nothing moved: no request at all
    assert sink.commits == [{a: 1, b: 1}, {a: 2}]


async def test_committer_flushes_only_the_given_partitions() -> None:
    sink = _Recorder()
    committer = OffsetCommitter(sink, logger=None)
    a, b = TopicPartition("t", 0), TopicPartition("t", 1)
    for tp in (a, b):
        committer.tracker(tp).begin(4)
        committer.tracker(tp).finish(4)
    await committer.flush([b])
    committer.forget([b])
    assert sink.commits == [{b: 5}]
    assert committer.committed() == {}


async def test_failed_commit_is_retried_on_the_next_flush(caplog: pytest.LogCaptureFixture) -> None:
    import logging

    sink = _Recorder(fail=True)
    committer = OffsetCommitter(sink, logger=logging.getLogger("topicflow.test"))
    tp = TopicPartition("t", 0)
    committer.tracker(tp).begin(0)
    committer.tracker(tp).finish(0)
    assert not await committer.flush()
    assert "may be delivered again" in caplog.text
    sink.fail = False
    assert await committer.flush()
    assert sink.commits == [{tp: 1}]


def test_settle_books_each_outcome_once() -> None:
    tracker = PartitionTracker()
    for offset in range(4):
        tracker.begin(offset)
    assert tracker.settle(1, Outcome.ACK)  # out of order: waits for 0
    assert tracker.position is None
    assert tracker.settle(0, Outcome.REJECT)
    assert tracker.position == 2
    assert tracker.settle(0, Outcome.ACK)  # not pending any more: changes nothing
    assert tracker.position == 2
    assert tracker.settle(2, Outcome.PENDING)
    assert tracker.position == 2
    assert not tracker.settle(3, Outcome.NACK)  # rewound to 3: it comes again
    assert tracker.attempts(3) == 1
    assert tracker.settle(3, Outcome.NACK)  # forgotten by the rewind: nothing to do
    assert tracker.settle(2, Outcome.POISON)
    assert tracker.position == 3
    assert tracker.in_flight == 0


def test_settle_in_order_without_begin() -> None:
    tracker = PartitionTracker()
    assert tracker.settle(0, Outcome.ACK, False)
    assert tracker.position == 1
    assert tracker.settle(1, Outcome.PENDING, False)  # MANUAL, undecided: begun now
    assert tracker.settle(2, Outcome.SKIP, False)  # behind 1: waits for it
    assert tracker.position == 1
    assert tracker.settle(1, Outcome.ACK)  # decided later
    assert tracker.position == 3
    assert not tracker.settle(3, Outcome.NACK, False)
    assert tracker.position == 3
