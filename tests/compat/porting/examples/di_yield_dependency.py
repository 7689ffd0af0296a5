"""Dependencies: a generator dependency is cleaned up after the handler."""

from collections.abc import AsyncIterator

import pytest
from faststream import Depends, FastStream
from faststream.kafka import KafkaBroker, TestKafkaBroker

broker = KafkaBroker("localhost:9092")
app = FastStream(broker)
log: list[str] = []


async def session() -> AsyncIterator[str]:
    log.append("open")
    yield "session-1"
    log.append("close")


@broker.subscriber("writes")
async def write(body: str, db: str = Depends(session)) -> None:
    log.append(f"write {body} in {db}")


@pytest.mark.asyncio
async def test_the_session_is_closed_after_use() -> None:
    async with TestKafkaBroker(broker) as br:
        await br.publish("row", "writes")
    assert log == ["open", "write row in session-1", "close"]
