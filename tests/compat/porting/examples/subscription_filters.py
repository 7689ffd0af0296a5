"""Subscription: several handlers on one subscriber, chosen by `filter=`."""

import pytest
from faststream import FastStream
from faststream.kafka import KafkaBroker, TestKafkaBroker

broker = KafkaBroker("localhost:9092")
app = FastStream(broker)
subscriber = broker.subscriber("mixed")
routed: list[str] = []


@subscriber(filter=lambda msg: msg.content_type == "application/json")
async def json_handler(body: dict) -> None:
    routed.append("json")


@subscriber
async def default_handler(body: str) -> None:
    routed.append("text")


@pytest.mark.asyncio
async def test_each_message_goes_to_the_first_handler_that_accepts_it() -> None:
    async with TestKafkaBroker(broker) as br:
        await br.publish({"kind": "json"}, "mixed")
        await br.publish("just text", "mixed")
        json_handler.mock.assert_called_once_with({"kind": "json"})
        default_handler.mock.assert_called_once_with("just text")
    assert routed == ["json", "text"]
