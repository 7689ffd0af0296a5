"""Subscription: the message object beside the body: key, headers, partition, offset."""

from typing import Any

import pytest
from faststream import FastStream
from faststream.kafka import KafkaBroker, TestKafkaBroker
from faststream.kafka.annotations import KafkaMessage

broker = KafkaBroker("localhost:9092")
app = FastStream(broker)
got: dict[str, Any] = {}


@broker.subscriber("audit")
async def on_audit(body: str, msg: KafkaMessage) -> None:
    got.update(
        key=msg.raw_message.key,
        header=msg.headers["source"],
        partition=msg.raw_message.partition,
        offset=msg.raw_message.offset,
        correlation_id=msg.correlation_id,
        body=msg.body,
    )


@pytest.mark.asyncio
async def test_the_message_carries_its_metadata() -> None:
    async with TestKafkaBroker(broker) as br:
        await br.publish(
            "login", "audit", key=b"user-1", headers={"source": "web"}, correlation_id="c-1"
        )
    assert got == {
        "key": b"user-1",
        "header": "web",
        "partition": 0,
        "offset": 0,
        "correlation_id": "c-1",
        "body": b"login",
    }
