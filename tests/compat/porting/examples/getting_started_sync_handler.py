"""Getting started: a plain `def` handler works as well as an `async def` one."""

import threading

import pytest
from faststream import FastStream
from faststream.kafka import KafkaBroker, TestKafkaBroker

broker = KafkaBroker("localhost:9092")
app = FastStream(broker)
calls: list[int] = []


@broker.subscriber("numbers")
@broker.publisher("doubled")
def double(number: int) -> int:
    calls.append(threading.get_ident())
    return number * 2


@broker.subscriber("doubled")
async def sink(number: int) -> None:
    pass


@pytest.mark.asyncio
async def test_a_sync_handler_answers() -> None:
    async with TestKafkaBroker(broker) as br:
        await br.publish(21, "numbers")
        double.mock.assert_called_once_with(21)
        sink.mock.assert_called_once_with(42)
    assert len(calls) == 1
