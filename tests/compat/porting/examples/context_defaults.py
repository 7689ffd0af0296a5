"""Context: a missing context value falls back to its `default=`, and `cast=True` validates."""

import pytest
from faststream import Context, FastStream
from faststream.kafka import KafkaBroker, TestKafkaBroker

broker = KafkaBroker("localhost:9092")
app = FastStream(broker)
app.context.set_global("retries", "3")
out: list[object] = []


@broker.subscriber("defaults")
async def handle(
    body: str,
    region: str | None = Context("region", default=None),
    retries: int = Context(cast=True),
) -> None:
    out.extend([region, retries])


@pytest.mark.asyncio
async def test_defaults_and_casting() -> None:
    async with TestKafkaBroker(broker) as br:
        await br.publish("x", "defaults")
    assert out == [None, 3]
