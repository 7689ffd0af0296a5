"""Routers: routers included in routers, and `include_routers` for several at once."""

import pytest
from faststream import FastStream
from faststream.kafka import KafkaBroker, KafkaRouter, TestKafkaBroker

inner = KafkaRouter(prefix="inner.")
outer = KafkaRouter(prefix="outer.")
other = KafkaRouter()


@inner.subscriber("deep")
async def deep(body: str) -> None:
    pass


@other.subscriber("flat")
async def flat(body: str) -> None:
    pass


outer.include_router(inner)
broker = KafkaBroker("localhost:9092")
broker.include_routers(outer, other)
app = FastStream(broker)


@pytest.mark.asyncio
async def test_prefixes_add_up() -> None:
    async with TestKafkaBroker(broker) as br:
        await br.publish("x", "outer.inner.deep")
        await br.publish("y", "flat")
        deep.mock.assert_called_once_with("x")
        flat.mock.assert_called_once_with("y")
