"""Helpers for tests against the real Kafka: read what is on the broker, poll for outcomes."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import TopicPartition


async def committed_offsets(bootstrap: str, group_id: str) -> dict[TopicPartition, int]:
    """The group's committed offsets, read from Kafka by an outside admin client."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group_id)
    finally:
        await admin.close()
    return {tp: meta.offset for tp, meta in offsets.items() if meta.offset >= 0}


async def read_all(bootstrap: str, topic: str, count: int, timeout: float = 15) -> list[Any]:
    """Read ``count`` records of ``topic`` from the beginning with a plain aiokafka consumer."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    records: list[Any] = []
    try:
        async with asyncio.timeout(timeout):
            while len(records) < count:
                for batch in (await consumer.getmany(timeout_ms=200)).values():
                    records.extend(batch)
    finally:
        await consumer.stop()
    return records


async def eventually(
    check: Callable[[], Awaitable[bool]] | Callable[[], bool], timeout: float = 15
) -> None:
    """Poll ``check`` until it is true; fail after ``timeout`` seconds."""
    async with asyncio.timeout(timeout):
        while True:
            result = check()
            if asyncio.iscoroutine(result):
                result = await result
            if result:
                return
            await asyncio.sleep(0.05)


async def find_record(
    bootstrap: str, topic: str, wanted: Callable[[Any], bool], timeout: float = 20
) -> Any:
    """The first record of ``topic`` (read from the beginning) for which ``wanted`` is true."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    try:
        async with asyncio.timeout(timeout):
            while True:
                for batch in (await consumer.getmany(timeout_ms=200)).values():
                    for record in batch:
                        if wanted(record):
                            return record
    finally:
        await consumer.stop()


class Overlap:
    """How many handlers run at the same moment, at most."""

    def __init__(self) -> None:
        self.now = 0
        self.peak = 0

    async def run(self, seconds: float) -> None:
        self.now += 1
        self.peak = max(self.peak, self.now)
        try:
            await asyncio.sleep(seconds)
        finally:
            self.now -= 1


async def producer_ids(bootstrap: str, topic: str, partition: int = 0) -> list[int]:
    """The producer id of each record batch of a partition, as the broker stores them:
    an idempotent producer's id, or -1 for a producer that is not idempotent."""
    # The consumer does not show record batch headers: one Fetch with the client's own
    # protocol classes, and its record batches read as they are.
    from aiokafka.client import AIOKafkaClient
    from aiokafka.protocol.fetch import FetchRequest
    from aiokafka.record.memory_records import MemoryRecords

    client = AIOKafkaClient(bootstrap_servers=bootstrap)
    await client.bootstrap()
    try:
        await client._wait_on_metadata(topic)
        leader = client.cluster.leader_for_partition(TopicPartition(topic, partition))
        fetch = FetchRequest(100, 1, 1_000_000, 0, [(topic, [(partition, 0, 1_000_000)])])
        response = await client.send(leader, fetch)
    finally:
        await client.close()
    ids = []
    for _, partitions in response.topics:
        for answer in partitions:
            records = MemoryRecords(answer[-1])
            while (batch := records.next_batch()) is not None:
                ids.append(batch.producer_id)
    return ids


# Run apart, with aiokafka's pure-Python record builder: it writes a header key with
# key.encode(), which a str subclass can make any bytes. No Kafka client writes such a
# record on purpose, but any producer can.
_RAW_WRITER = """
import asyncio, json, sys
from aiokafka import AIOKafkaProducer

class RawKey(str):
    def encode(self, *args, **kwargs):
        return bytes.fromhex(self.hex)

def key(hex_key):
    k = RawKey("k")
    k.hex = hex_key
    return k

async def main():
    bootstrap, topic, records = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    apart = sys.argv[4] == "apart"
    compression = None if sys.argv[5] == "none" else sys.argv[5]
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, linger_ms=0 if apart else 50, compression_type=compression
    )
    await producer.start()
    try:
        futures = []
        for partition, value, headers in records:
            future = await producer.send(
                topic,
                bytes.fromhex(value),
                partition=partition,
                headers=[(key(k), bytes.fromhex(v)) for k, v in headers],
            )
            if apart:  # confirmed before the next is sent: a batch of its own each
                await future
            futures.append(future)
        await asyncio.gather(*futures)
    finally:
        await producer.stop()

asyncio.run(main())
"""

RawRecord = tuple[int, bytes, list[tuple[bytes, bytes]]]  # partition, value, headers


async def write_raw(
    bootstrap: str,
    topic: str,
    records: list[RawRecord],
    *,
    one_batch: bool = False,
    compression: str | None = None,
) -> None:
    """Write ``records`` with header keys as given bytes (valid UTF-8 or not), each in a
    record batch of its own (as different producers would), or with ``one_batch``
    as few batches as the producer makes of them."""
    payload = json.dumps(
        [(p, value.hex(), [(k.hex(), v.hex()) for k, v in hs]) for p, value, hs in records]
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _RAW_WRITER,
        bootstrap,
        topic,
        payload,
        "together" if one_batch else "apart",
        compression or "none",
        env={**os.environ, "AIOKAFKA_NO_EXTENSIONS": "1"},
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode == 0, err.decode()
