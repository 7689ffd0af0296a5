"""Exceptions: no handler of the subscriber accepts the message -> `SubscriberNotFound`."""

import pytest
from faststream import FastStream
from faststream.exceptions import SubscriberNotFound
from faststream.kafka import KafkaBroker, TestKafkaBroker

broker = KafkaBroker("localhost:9092")
app = FastStream(broker)
subscriber = broker.subscriber("typed")


@subscriber(filter=lambda msg: msg.headers.get("type") == "order")
async def orders_only(body: dict) -> None:
    pass


@pytest.mark.asyncio
async def test_an_unmatched_message_is_reported() -> None:
    async with TestKafkaBroker(broker) as br:
        await br.publish({"id": 1}, "typed", headers={"type": "order"})
        orders_only.mock.assert_called_once_with({"id": 1})
        with pytest.raises(SubscriberNotFound):
            await br.publish({"id": 2}, "typed", headers={"type": "refund"})
