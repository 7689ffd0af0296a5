"""Subscription: one handler for several topics, and the topic a message came from."""

import pytest
from faststream import Context, FastStream
from faststream.kafka import KafkaBroker, TestKafkaBroker

broker = KafkaBroker("localhost:9092")
app = FastStream(broker)
seen: list[tuple[str, str]] = []


@broker.subscriber("payments-eu", "payments-us")
async def on_payment(body: str, topic: str = Context("message.raw_message.topic")) -> None:
    seen.append((topic, body))


@pytest.mark.asyncio
async def test_both_topics_reach_the_handler() -> None:
    async with TestKafkaBroker(broker) as br:
        await br.publish("p1", "payments-eu")
        await br.publish("p2", "payments-us")
        assert on_payment.mock.call_count == 2
    assert seen == [("payments-eu", "p1"), ("payments-us", "p2")]
