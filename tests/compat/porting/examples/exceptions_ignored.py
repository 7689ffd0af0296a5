"""Exceptions: the tree under `IgnoredException`, and a handler's own subclass of it."""

import pytest
from faststream import FastStream
from faststream.exceptions import (
    AckMessage,
    HandlerException,
    IgnoredException,
    NackMessage,
    RejectMessage,
    SkipMessage,
    StopConsume,
)
from faststream.kafka import KafkaBroker, TestKafkaBroker

broker = KafkaBroker("localhost:9092")
app = FastStream(broker)


class DoneEarly(IgnoredException):
    """Ends the handling without an error."""


@broker.subscriber("early")
async def handle(body: str) -> None:
    if body == "done":
        raise DoneEarly()


def test_the_exception_tree() -> None:
    for exc in (AckMessage, NackMessage, RejectMessage, SkipMessage, StopConsume):
        assert issubclass(exc, IgnoredException)
    assert issubclass(HandlerException, IgnoredException)


@pytest.mark.asyncio
async def test_the_test_broker_reraises_it() -> None:
    async with TestKafkaBroker(broker) as br:
        await br.publish("go on", "early")
        with pytest.raises(DoneEarly):
            await br.publish("done", "early")
        assert handle.mock.call_count == 2
