"""Getting started: one subscriber that logs what it gets, tested in memory."""

import pytest
from faststream import FastStream, Logger
from faststream.kafka import KafkaBroker, TestKafkaBroker

broker = KafkaBroker("localhost:9092")
app = FastStream(broker)


@broker.subscriber("hello-world")
async def handle(msg: str, logger: Logger) -> None:
    logger.info(msg)


@pytest.mark.asyncio
async def test_the_greeting_is_handled() -> None:
    async with TestKafkaBroker(broker) as br:
        await br.publish("Hello, Kafka!", "hello-world")
        handle.mock.assert_called_once_with("Hello, Kafka!")
