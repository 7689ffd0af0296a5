"""Subscription: a topic pattern, with a part of the topic name taken as a parameter."""

import pytest
from faststream import FastStream, Path
from faststream.kafka import KafkaBroker, TestKafkaBroker

broker = KafkaBroker("localhost:9092")
app = FastStream(broker)
levels: list[str] = []


@broker.subscriber(pattern="logs.{level}")
async def on_log(line: str, level: str = Path()) -> None:
    levels.append(level)


@pytest.mark.asyncio
async def test_the_level_comes_from_the_topic() -> None:
    async with TestKafkaBroker(broker) as br:
        await br.publish("disk full", "logs.error")
        on_log.mock.assert_called_once_with("disk full")
    assert levels == ["error"]
