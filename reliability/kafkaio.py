"""What the suite itself does on the cluster with the plain client: topics, load, offsets.

The services under test are topicflow; the suite's own load and observations use
aiokafka directly, so that what is measured is never measured by itself.
"""

from __future__ import annotations

import asyncio
import collections
import json
import time
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.structs import TopicPartition

#: Bound of one request of the suite's own clients.
TIMEOUT = 30.0


@asynccontextmanager
async def admin(bootstrap: str) -> AsyncIterator[AIOKafkaAdminClient]:
    client = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    async with asyncio.timeout(TIMEOUT):
        await client.start()
    try:
        yield client
    finally:
        await client.close()


async def create_topic(
    bootstrap: str,
    name: str,
    partitions: int,
    replication: int = 1,
    config: dict[str, str] | None = None,
) -> None:
    """Create ``name`` and wait until every partition has a leader."""
    async with admin(bootstrap) as client:
        async with asyncio.timeout(TIMEOUT):
            await client.create_topics(
                [NewTopic(name, partitions, replication, topic_configs=config or {})]
            )
            for _ in range(int(TIMEOUT * 10)):  # bounded by the timeout around it
                if len(await leaders(client, name)) == partitions:
                    break
                await asyncio.sleep(0.1)


async def leaders(client: AIOKafkaAdminClient, topic: str) -> dict[int, int]:
    """partition -> the node id of its leader, for the partitions that have one."""
    described = await client.describe_topics([topic])
    found: dict[int, int] = {}
    for entry in described:
        for part in entry.get("partitions", []):
            if part.get("error_code", 0) == 0 and part.get("leader", -1) >= 0:
                found[part["partition"]] = part["leader"]
    return found


async def fill(bootstrap: str, topic: str, ids: Iterable[int], partitions: int) -> None:
    """Write each id (a JSON int) to partition ``id % partitions``; wait for every ack."""
    await put(bootstrap, topic, ((n % partitions, str(n).encode()) for n in ids))


async def put(bootstrap: str, topic: str, records: Iterable[tuple[int, bytes]]) -> None:
    """Write ``(partition, value)`` records; wait for every ack."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, acks="all")
    async with asyncio.timeout(TIMEOUT):
        await producer.start()
    try:
        async with asyncio.timeout(TIMEOUT * 4):
            futures = [
                await producer.send(topic, value, partition=partition)
                for partition, value in records
            ]
            await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def stream(
    bootstrap: str,
    topic: str,
    ids: range,
    partitions: int,
    rate: float,
    sent_all: asyncio.Event | None = None,
    writes: dict[int, float] | None = None,
) -> None:
    """Write ``ids`` at ``rate`` records per second, as live traffic; set ``sent_all``
    when the last one is handed to the client (its acknowledgement comes after); note
    in ``writes`` when each id was handed to it (unix time)."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    async with asyncio.timeout(TIMEOUT):
        await producer.start()
    began = time.monotonic()
    try:
        pending: list[asyncio.Future[object]] = []
        sent = 0
        total = len(ids)
        while sent < total:
            due = min(total, int((time.monotonic() - began) * rate) + 1)
            for n in ids[sent:due]:
                if writes is not None:
                    writes[n] = time.time()
                pending.append(
                    await producer.send(topic, str(n).encode(), partition=n % partitions)
                )
            sent = due
            await asyncio.sleep(0.01)
        if sent_all is not None:
            sent_all.set()
        async with asyncio.timeout(TIMEOUT):
            await asyncio.gather(*pending)
    finally:
        await producer.stop()


async def committed(client: AIOKafkaAdminClient, group: str) -> dict[TopicPartition, int]:
    """The group's committed offsets, as Kafka has them."""
    offsets = await client.list_consumer_group_offsets(group)
    return {tp: meta.offset for tp, meta in offsets.items() if meta.offset >= 0}


class Offsets:
    """The suite's view of one group on one topic: committed offsets against the ends."""

    def __init__(self, bootstrap: str, topic: str, partitions: int, group: str) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.tps = [TopicPartition(topic, p) for p in range(partitions)]
        self.group = group
        self._admin: AIOKafkaAdminClient | None = None
        self._consumer: AIOKafkaConsumer | None = None

    async def __aenter__(self) -> Offsets:
        self._admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
        self._consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap)
        async with asyncio.timeout(TIMEOUT):
            await self._admin.start()
            await self._consumer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
        if self._admin is not None:
            await self._admin.close()

    async def committed_total(self) -> int:
        assert self._admin is not None
        async with asyncio.timeout(TIMEOUT):
            offsets = await committed(self._admin, self.group)
        return sum(offset for tp, offset in offsets.items() if tp.topic == self.topic)

    async def lag(self) -> int:
        """Records on the topic past the group's committed offsets."""
        assert self._admin is not None
        assert self._consumer is not None
        async with asyncio.timeout(TIMEOUT):
            ends = await self._consumer.end_offsets(self.tps)
            done = await committed(self._admin, self.group)
        return sum(max(0, end - done.get(tp, 0)) for tp, end in ends.items())


async def count_ids(bootstrap: str, topic: str, partitions: int) -> collections.Counter[int]:
    """How many records of each id (a JSON int value) the topic holds, read to its end."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    async with asyncio.timeout(TIMEOUT):
        await consumer.start()
    found: collections.Counter[int] = collections.Counter()
    try:
        async with asyncio.timeout(TIMEOUT * 4):
            tps = [TopicPartition(topic, p) for p in range(partitions)]
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            ends = await consumer.end_offsets(tps)
            left = dict(ends)
            while left:
                for records in (await consumer.getmany(timeout_ms=500)).values():
                    found.update(json.loads(record.value) for record in records if record.value)
                for tp, end in list(left.items()):
                    if await consumer.position(tp) >= end:
                        del left[tp]
    finally:
        await consumer.stop()
    return found
