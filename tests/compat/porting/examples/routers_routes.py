"""Routers: handlers declared as `KafkaRoute`s, with a `KafkaPublisher` each."""

import pytest
from faststream import FastStream
from faststream.kafka import KafkaBroker, KafkaPublisher, KafkaRoute, KafkaRouter, TestKafkaBroker


async def square(number: int) -> int:
    return number * number


async def collect(number: int) -> None:
    pass


router = KafkaRouter(
    prefix="math.",
    handlers=(
        KafkaRoute(square, "square", publishers=(KafkaPublisher("squared"),)),
        KafkaRoute(collect, "squared"),
    ),
)
broker = KafkaBroker("localhost:9092")
broker.include_router(router)
app = FastStream(broker)


@broker.subscriber("math.squared", group_id="observer")
async def observe(number: int) -> None:
    pass


@pytest.mark.asyncio
async def test_the_routes_are_wired() -> None:
    async with TestKafkaBroker(broker) as br:
        await br.publish(7, "math.square")
        observe.mock.assert_called_once_with(49)
