"""Context: the broker itself as a handler parameter, from `faststream.kafka.annotations`."""

import pytest
from faststream import FastStream
from faststream.kafka import KafkaBroker, TestKafkaBroker
from faststream.kafka.annotations import KafkaBroker as Broker

broker = KafkaBroker("localhost:9092")
app = FastStream(broker)


@broker.subscriber("forward-in")
async def forward(body: str, br: Broker) -> None:
    await br.publish(body[::-1], "forward-out")


@broker.subscriber("forward-out")
async def sink(body: str) -> None:
    pass


@pytest.mark.asyncio
async def test_the_injected_broker_publishes() -> None:
    async with TestKafkaBroker(broker) as br:
        await br.publish("abc", "forward-in")
        sink.mock.assert_called_once_with("cba")
