"""FastStream's KafkaBroker options against the real Kafka."""

from __future__ import annotations

import pytest

from tests.helpers import eventually
from topicflow import SetupError
from topicflow.kafka import KafkaBroker

pytestmark = pytest.mark.kafka


async def test_a_consumer_only_broker_consumes_without_a_producer(
    bootstrap: str, topic: str, group: str
) -> None:
    sender = KafkaBroker(bootstrap)
    broker = KafkaBroker(bootstrap, consumer_only=True, client_rack="rack-1")
    got: list[str] = []

    @broker.subscriber(topic, group_id=group, auto_offset_reset="earliest")
    async def handle(body: str) -> None:
        got.append(body)

    async with sender, broker:
        await sender.publish("hi", topic)
        await broker.start()
        await eventually(lambda: got == ["hi"])
        assert await broker.ping(5)
        with pytest.raises(SetupError, match="consumer_only=True"):
            await broker.publish("x", topic)
