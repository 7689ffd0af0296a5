"""Testing: a subscriber added by the test observes what the service publishes."""

import pytest
from faststream import FastStream
from faststream.kafka import KafkaBroker, TestKafkaBroker

broker = KafkaBroker("localhost:9092")
app = FastStream(broker)


@broker.subscriber("temperatures")
@broker.publisher("alerts")
async def check(celsius: float) -> str | None:
    return "too hot" if celsius > 40 else None


@pytest.mark.asyncio
async def test_an_alert_is_raised() -> None:
    @broker.subscriber("alerts")
    async def on_alert(alert: str) -> None:
        pass

    async with TestKafkaBroker(broker) as br:
        await br.publish(45.0, "temperatures")
        on_alert.mock.assert_called_once_with("too hot")
