"""Exceptions: `StopConsume` stops the subscriber that raised it.

On a real Kafka the subscriber stops consuming. The test broker calls the
handler directly, so what a test sees is the exception, out of `publish()`.
"""

import pytest
from faststream import FastStream
from faststream.exceptions import StopConsume
from faststream.kafka import KafkaBroker, TestKafkaBroker

broker = KafkaBroker("localhost:9092")
app = FastStream(broker)
handled: list[str] = []


@broker.subscriber("until-stop")
async def handle(body: str) -> None:
    if body == "stop":
        raise StopConsume()
    handled.append(body)


@pytest.mark.asyncio
async def test_the_subscriber_stops() -> None:
    async with TestKafkaBroker(broker) as br:
        await br.publish("one", "until-stop")
        # Under the test broker the exception also comes out of publish().
        with pytest.raises(StopConsume):
            await br.publish("stop", "until-stop")
    assert handled == ["one"]
