"""Moving past a record the Kafka client cannot read, losing nothing around it.

aiokafka decodes header keys as UTF-8 while it reads a fetched batch, so a
record with any other key (any producer can write one) fails the whole
``getmany()``: the records read before it in that call, of every partition,
are dropped with it, and every later fetch fails on it again. The consumer
transport calls :func:`read_past`, which puts back what the failed call
dropped, reads again, one at a time, the records of the failing partition up
to the bad one, and finds the first offset after it that can be read; the
fetch loop then hands those records out and rejects the rest as poison.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any, NoReturn

from topicflow.exceptions import KafkaUnavailableError
from topicflow.kafka._seam import UnreadableRecord

if TYPE_CHECKING:
    from collections.abc import Callable

    from topicflow.kafka._transport import ConsumerRecord, TopicPartition

__all__ = ["read_past"]

#: How long one re-read may wait for the cluster, in milliseconds.
_READ_AGAIN_MS = 10_000


async def read_past(
    consumer: Any,
    exc: UnicodeDecodeError,
    positions: dict[TopicPartition, int],
    seek: Callable[[TopicPartition, int], None],
) -> NoReturn:
    """After ``exc`` failed a ``getmany()`` of aiokafka's ``consumer``: raise
    UnreadableRecord, the consumer positioned past the bad records.

    ``positions``: per partition, the offset after the last record handed out;
    ``seek`` moves the consumer (and keeps ``positions`` true). When aiokafka's
    state does not show which record failed, ``exc`` itself is raised: the
    fetch task is restarted and, failing again, given up.
    """
    found = _unreadable_at(consumer)
    if found is None:
        raise exc
    tp, offset = found
    # Partitions drained before the failing one lost their records with the call.
    for other, position in list(positions.items()):
        if other != tp:
            seek(other, position)
    start = await consumer.position(tp)  # not moved: the call failed on this partition
    seek(tp, start)
    before: list[ConsumerRecord[bytes, bytes]] = []
    while start < offset:  # one at a time, so that no call reaches the bad record
        try:
            batch = await consumer.getmany(tp, timeout_ms=_READ_AGAIN_MS, max_records=1)
        except UnicodeDecodeError:
            break  # the next one is the bad record (a compacted gap came first)
        if not batch.get(tp):
            seek(tp, start)
            raise KafkaUnavailableError(
                f"re-reading {tp.topic}[{tp.partition}] from offset {start} got nothing "
                f"within {_READ_AGAIN_MS} ms",
                bootstrap_servers="",
            ) from exc
        before.extend(batch[tp])
        start = before[-1].offset + 1
    offset = max(start, offset)
    end = await _first_readable(consumer, seek, tp, offset)
    seek(tp, end)
    bad = exc.object[:40] if isinstance(exc.object, bytes) else b""
    reason = f"the record cannot be read: a header key is not valid UTF-8 ({bad!r})"
    if end - offset > 1:
        reason += (
            f" (and offsets {offset + 1}-{end - 1}, which follow it in its record batch and "
            "cannot be read either)"
        )
    raise UnreadableRecord(tp, offset, end, reason, {tp: before} if before else {}) from exc


async def _first_readable(
    consumer: Any, seek: Callable[[TopicPartition, int], None], tp: TopicPartition, bad: int
) -> int:
    """The first offset after the unreadable record at ``bad`` that the client can
    read. It decodes a batch from its start, so the rest of the bad record's batch
    fails too: probe further and further, then halve the gap (a few fetches)."""
    end = (await consumer.end_offsets([tp]))[tp]

    async def readable(offset: int) -> bool:
        if offset >= end:
            return True  # nothing written there yet: nothing that fails
        seek(tp, offset)
        try:
            await consumer.getmany(tp, timeout_ms=_READ_AGAIN_MS, max_records=1)
        except UnicodeDecodeError:
            return False
        return True

    unreadable, step = bad, 1
    while not await readable(bad + step):
        unreadable, step = bad + step, step * 2
    first = bad + step
    while first - unreadable > 1:
        middle = (unreadable + first) // 2
        if await readable(middle):
            first = middle
        else:
            unreadable = middle
    return first


def _unreadable_at(consumer: Any) -> tuple[TopicPartition, int] | None:
    """The partition and offset of the record that failed a ``getmany`` as it was read.

    aiokafka does not say: its fetcher keeps, per partition, the records it
    fetched and a generator reading them; the failed one is the generator that
    ended, and its position is the record it could not read. This reads that
    private state, and gives None when it is not there (another aiokafka).
    """
    fetched = getattr(getattr(consumer, "_fetcher", None), "_records", None)
    if not isinstance(fetched, dict):
        return None
    for tp, result in fetched.items():
        records = getattr(result, "_partition_records", None)
        reading = getattr(records, "_records_iterator", None)
        if inspect.isgenerator(reading) and inspect.getgeneratorstate(reading) == "GEN_CLOSED":
            return tp, int(records.next_fetch_offset)  # type: ignore[union-attr]
    return None
