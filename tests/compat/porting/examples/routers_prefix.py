"""Routers: a `KafkaRouter` with a prefix, included into the broker."""

import pytest
from faststream import FastStream
from faststream.kafka import KafkaBroker, KafkaRouter, TestKafkaBroker

router = KafkaRouter(prefix="users.")


@router.subscriber("created")
@router.publisher("welcomed")
async def on_created(name: str) -> str:
    return f"welcome {name}"


broker = KafkaBroker("localhost:9092")
broker.include_router(router)
app = FastStream(broker)


@broker.subscriber("users.welcomed")
async def on_welcomed(text: str) -> None:
    pass


@pytest.mark.asyncio
async def test_the_prefix_is_part_of_the_topic() -> None:
    async with TestKafkaBroker(broker) as br:
        await br.publish("ann", "users.created")
        on_created.mock.assert_called_once_with("ann")
        on_welcomed.mock.assert_called_once_with("welcome ann")
