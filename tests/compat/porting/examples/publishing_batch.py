"""Publishing: `publish_batch`, and a batch publisher fed by a tuple."""

import pytest
from faststream import FastStream
from faststream.kafka import KafkaBroker, TestKafkaBroker

broker = KafkaBroker("localhost:9092")
app = FastStream(broker)


@broker.subscriber("numbers-in")
@broker.publisher("numbers-out", batch=True)
async def split(count: int) -> tuple[int, ...]:
    return tuple(range(count))


@broker.subscriber("numbers-out", batch=True)
async def collect(numbers: list[int]) -> None:
    pass


@broker.subscriber("words", batch=True)
async def on_words(words: list[str]) -> None:
    pass


@pytest.mark.asyncio
async def test_a_batch_is_published() -> None:
    async with TestKafkaBroker(broker) as br:
        await br.publish(3, "numbers-in")
        collect.mock.assert_called_once_with([0, 1, 2])
        await br.publish_batch("a", "b", topic="words")
        on_words.mock.assert_called_once_with(["a", "b"])
