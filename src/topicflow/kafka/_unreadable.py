"""Moving past a record the Kafka client cannot read, losing nothing around it.

aiokafka decodes header keys as UTF-8 while it reads a fetched batch, so a
record with any other key (any producer can write one) fails the whole
``getmany()``: the records read before it in that call, of every partition,
are dropped with it, and every later fetch fails on it again; the records
after it in its batch cannot be reached through the client at all. The
consumer transport calls :func:`read_past`, which puts back what the failed
call dropped, reads again through the client, one at a time, the records of
the failing partition up to the bad one, and reads the rest of the bad one's
batch from its bytes (:func:`parse_batch`, Kafka's record batch format v2).
The fetch loop then hands out the readable records and rejects the others as
poison, in offset order.
"""

from __future__ import annotations

import inspect
import struct
from typing import TYPE_CHECKING, Any, NoReturn, Protocol

from topicflow.exceptions import KafkaUnavailableError
from topicflow.kafka._seam import UnreadableRecord

if TYPE_CHECKING:
    from collections.abc import Callable

    from topicflow.kafka._transport import ConsumerRecord, TopicPartition

__all__ = ["RawRecord", "Rereader", "parse_batch", "read_past"]

#: How long one re-read may wait for the cluster, in milliseconds.
_READ_AGAIN_MS = 10_000

#: One record of a batch read from its bytes: offset, timestamp, timestamp type, key,
#: value, headers; headers None when a header key is not UTF-8.
RawRecord = tuple[int, int, int, bytes | None, bytes | None, list[tuple[str, bytes]] | None]


class Rereader(Protocol):
    """What :func:`read_past` needs of the consumer transport."""

    #: Per partition, the offset after the last record handed out.
    positions: dict[TopicPartition, int]

    @property
    def record_type(self) -> Callable[..., ConsumerRecord[bytes, bytes]]:
        """The client's record type: ``record_type(topic, partition, offset, timestamp,
        timestamp_type, key, value, checksum, key_size, value_size, headers)``."""

    def seek(self, tp: TopicPartition, offset: int) -> None:
        """Move the consumer (and keep ``positions`` true)."""

    def decompress(self, kind: int, data: bytes) -> bytes:
        """The records of a batch compressed with codec ``kind`` (1 gzip ... 4 zstd)."""

    async def batch_bytes(self, tp: TopicPartition, offset: int) -> bytes:
        """The bytes of the record batch holding ``offset`` (and maybe more)."""


async def read_past(consumer: Any, exc: UnicodeDecodeError, owner: Rereader) -> NoReturn:
    """After ``exc`` failed a ``getmany()`` of aiokafka's ``consumer``: raise
    UnreadableRecord with the records of the failing partition up to the end of
    the bad record's batch, the consumer positioned after them.

    When aiokafka's state does not show which record failed, ``exc`` itself is
    raised: the fetch task is restarted and, failing again, given up.
    """
    found = _unreadable_at(consumer)
    if found is None:
        raise exc
    tp, offset = found
    # Partitions drained before the failing one lost their records with the call.
    for other, position in list(owner.positions.items()):
        if other != tp:
            owner.seek(other, position)
    start = await consumer.position(tp)  # not moved: the call failed on this partition
    owner.seek(tp, start)
    records: list[tuple[int, ConsumerRecord[bytes, bytes] | None]] = []
    while start < offset:  # one at a time, so that no call reaches the bad record
        try:
            batch = await consumer.getmany(tp, timeout_ms=_READ_AGAIN_MS, max_records=1)
        except UnicodeDecodeError:
            break  # the next one is the bad record (a compacted gap came first)
        if not batch.get(tp):
            owner.seek(tp, start)
            raise KafkaUnavailableError(
                f"re-reading {tp.topic}[{tp.partition}] from offset {start} got nothing "
                f"within {_READ_AGAIN_MS} ms",
                bootstrap_servers="",
            ) from exc
        records.extend((record.offset, record) for record in batch[tp])
        start = records[-1][0] + 1
    offset = max(start, offset)
    raw, end = parse_batch(await owner.batch_bytes(tp, offset), offset, owner.decompress)
    for at, stamp, kind, key, value, headers in raw:  # None: a header key is not UTF-8
        made = None
        if headers is not None:
            sizes = (-1 if key is None else len(key), -1 if value is None else len(value))
            made = owner.record_type(
                tp.topic, tp.partition, at, stamp, kind, key, value, None, *sizes, headers
            )
        records.append((at, made))
    owner.seek(tp, end)
    bad = exc.object[:40] if isinstance(exc.object, bytes) else b""
    reason = f"the record cannot be read: a header key is not valid UTF-8 ({bad!r})"
    raise UnreadableRecord(tp, records, reason) from exc


def parse_batch(
    data: bytes, offset: int, decompress: Callable[[int, bytes], bytes]
) -> tuple[list[RawRecord], int]:
    """The records, from ``offset`` on, of the record batch in ``data`` (a fetch
    answer's bytes) that holds ``offset``, and the offset after that batch.

    Kafka's record batch v2: a 61-byte header (base offset, length, leader
    epoch, magic, crc, attributes, last offset delta, base and max timestamps,
    producer id and epoch, base sequence, record count), then the records,
    compressed as the attributes say. Control batches (transaction markers)
    give no records. Without such a batch in ``data``: no records, and the
    offset after ``offset``.
    """
    pos = 0
    while pos + 61 <= len(data):
        base, length = struct.unpack_from(">qi", data, pos)
        after = pos + 12 + length
        attributes, last_delta, base_time, max_time = struct.unpack_from(">hiqq", data, pos + 21)
        if after > len(data) or not base <= offset <= base + last_delta:
            pos = after
            continue
        if attributes & 0x20:
            return [], base + last_delta + 1
        (count,) = struct.unpack_from(">i", data, pos + 57)
        body = data[pos + 61 : after]
        if attributes & 0x07:
            body = decompress(attributes & 0x07, body)
        log_append_time = bool(attributes & 0x08)
        records = []
        at = 0
        for _ in range(count):
            size, at = _varint(body, at)
            end = at + size
            at += 1  # the record's attributes: unused
            time_delta, at = _varint(body, at)
            delta, at = _varint(body, at)
            key, at = _bytes(body, at)
            value, at = _bytes(body, at)
            headers: list[tuple[str, bytes]] | None = []
            count_headers, at = _varint(body, at)
            for _ in range(count_headers):
                name, at = _bytes(body, at)
                header, at = _bytes(body, at)
                try:
                    if headers is not None:
                        headers.append(((name or b"").decode(), header or b""))
                except UnicodeDecodeError:
                    headers = None
            at = end
            if base + delta >= offset:
                stamp = max_time if log_append_time else base_time + time_delta
                records.append((base + delta, stamp, int(log_append_time), key, value, headers))
        return records, base + last_delta + 1
    return [], offset + 1


def _varint(data: bytes, at: int) -> tuple[int, int]:
    """A zigzag varint at ``at``: its value and the position after it."""
    shift = result = 0
    while True:
        byte = data[at]
        at += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return (result >> 1) ^ -(result & 1), at
        shift += 7


def _bytes(data: bytes, at: int) -> tuple[bytes | None, int]:
    """A varint-length byte string (-1: null) at ``at``, and the position after it."""
    size, at = _varint(data, at)
    if size < 0:
        return None, at
    return bytes(data[at : at + size]), at + size


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
