"""Ack: `AckPolicy.MANUAL`, with the handler calling `msg.ack()`, `nack()` or `reject()`."""

import pytest
from faststream import AckPolicy, FastStream
from faststream.kafka import KafkaBroker, TestKafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.message import AckStatus

broker = KafkaBroker("localhost:9092")
app = FastStream(broker)
statuses: list[AckStatus | None] = []


@broker.subscriber("manual", group_id="manual-g", ack_policy=AckPolicy.MANUAL)
async def decide(body: str, msg: KafkaMessage) -> None:
    if body == "good":
        await msg.ack()
    elif body == "retry":
        await msg.nack()
    else:
        await msg.reject()
    statuses.append(msg.committed)


@pytest.mark.asyncio
async def test_the_handler_decides() -> None:
    async with TestKafkaBroker(broker) as br:
        await br.publish("good", "manual")
        await br.publish("broken", "manual")
        assert decide.mock.call_count == 2
    assert statuses[0] is AckStatus.ACKED
    assert statuses[1] is not None  # decided: on Kafka a reject commits the offset too
