"""Shared fixtures: where the real Kafka is, unique topics, and polling helpers."""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

DEFAULT_BOOTSTRAP = "127.0.0.1:9092"


@pytest.fixture(scope="session")
def bootstrap() -> str:
    """The real Kafka the integration tests use: $KAFKA_BOOTSTRAP, else 127.0.0.1:9092."""
    servers = os.environ.get("KAFKA_BOOTSTRAP", DEFAULT_BOOTSTRAP)
    host, _, port = servers.split(",")[0].rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=3).close()
    except OSError as exc:
        pytest.fail(
            f"no Kafka at {servers} ({exc}). Run ./scripts/test (it starts one), or "
            "scripts/kafka start, or set KAFKA_BOOTSTRAP to your own cluster.",
            pytrace=False,
        )
    return servers


@pytest.fixture
def topic() -> str:
    """A topic name no other test uses (created on first use by the cluster)."""
    return f"tf-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def group() -> str:
    """A consumer group id no other test uses."""
    return f"g-{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def create_topic(bootstrap: str) -> AsyncIterator[Callable[[str, int], Awaitable[None]]]:
    """Create a topic with a given number of partitions, before anything uses it."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()

    async def create(name: str, partitions: int) -> None:
        await admin.create_topics([NewTopic(name, partitions, 1)])
        for _ in range(100):
            if name in await admin.list_topics():
                return
            await asyncio.sleep(0.1)
        raise AssertionError(f"topic {name} was not created")

    yield create
    await admin.close()
