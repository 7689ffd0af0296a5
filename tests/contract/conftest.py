"""The contract suite's back ends: the in-memory Kafka and a real one, behind one fixture.

Every test in tests/contract/ takes ``backend`` and runs twice: on ``memory``
(TestKafkaBroker over the in-memory cluster) and on ``kafka`` (TestKafkaBroker
with ``with_real=True`` against $KAFKA_BOOTSTRAP, marked ``kafka``). The tests
only talk to :class:`Backend`, so the same assertions hold on both.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from tests.helpers import committed_offsets, eventually
from topicflow.kafka import KafkaBroker, TestKafkaBroker, TopicPartition

#: Not an address anything listens on: a memory test that reached for a real
#: transport would fail to connect instead of passing by accident.
MEMORY_ADDRESS = "in-memory:9092"


@dataclass
class Backend:
    """What a contract test needs from a back end: brokers, topics, committed offsets."""

    name: str
    bootstrap: str
    # memory: a test broker held for the whole test, keeping its cluster alive
    # across restarts (brokers on one address share it).
    _holder: TestKafkaBroker | None = None
    _admin: AIOKafkaAdminClient | None = field(default=None, repr=False)

    @property
    def real(self) -> bool:
        return self._holder is None

    def broker(self, **options: Any) -> KafkaBroker:
        """A new broker on this back end's cluster."""
        return KafkaBroker(self.bootstrap, **options)

    def run(self, broker: KafkaBroker) -> TestKafkaBroker:
        """``async with backend.run(broker) as br:`` starts it under the test broker."""
        return TestKafkaBroker(broker, with_real=self.real)

    async def create_topic(self, name: str, partitions: int) -> None:
        """Create ``name`` with ``partitions`` partitions before anything uses it."""
        if self._holder is not None:
            self._holder.create_topic(name, partitions)
            return
        if self._admin is None:
            self._admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
            await self._admin.start()
        admin = self._admin
        await admin.create_topics([NewTopic(name, partitions, 1)])

        async def created() -> bool:
            return name in await admin.list_topics()

        await eventually(created, timeout=10)

    async def committed(self, group_id: str) -> dict[TopicPartition, int]:
        """The group's committed offsets, as the cluster has them."""
        if self._holder is not None:
            return self._holder.committed_offsets(group_id)
        return await committed_offsets(self.bootstrap, group_id)

    async def close(self) -> None:
        if self._admin is not None:
            await self._admin.close()


@pytest.fixture(params=["memory", pytest.param("kafka", marks=pytest.mark.kafka)])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    """The back end a contract test runs on (each test runs on both)."""
    if request.param == "memory":
        holder = TestKafkaBroker(KafkaBroker(MEMORY_ADDRESS, logger=None))
        async with holder:
            yield Backend("memory", MEMORY_ADDRESS, holder)
        return
    real = Backend("kafka", request.getfixturevalue("bootstrap"))
    try:
        yield real
    finally:
        await real.close()
