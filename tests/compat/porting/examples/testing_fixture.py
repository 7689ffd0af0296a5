"""Testing: the test broker as a pytest fixture, shared by several tests."""

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from faststream import FastStream
from faststream.kafka import KafkaBroker, TestKafkaBroker

broker = KafkaBroker("localhost:9092")
app = FastStream(broker)


@broker.subscriber("greetings")
@broker.publisher("replies")
async def answer(name: str) -> str:
    return f"hi {name}"


@pytest_asyncio.fixture
async def test_broker() -> AsyncIterator[KafkaBroker]:
    async with TestKafkaBroker(broker) as br:
        yield br


@pytest.mark.asyncio
async def test_one(test_broker: KafkaBroker) -> None:
    await test_broker.publish("ann", "greetings")
    answer.mock.assert_called_once_with("ann")


@pytest.mark.asyncio
async def test_two(test_broker: KafkaBroker) -> None:
    await test_broker.publish("bob", "greetings")
    answer.mock.assert_called_once_with("bob")
