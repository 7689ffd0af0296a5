"""Dependencies: reusable `Annotated` aliases for dependencies and context."""

from typing import Annotated

import pytest
from faststream import Context, Depends, FastStream
from faststream.kafka import KafkaBroker, TestKafkaBroker

broker = KafkaBroker("localhost:9092")
app = FastStream(broker)
out: list[str] = []


def get_settings() -> dict:
    return {"prefix": ">>"}


Settings = Annotated[dict, Depends(get_settings)]
CorrelationId = Annotated[str, Context("message.correlation_id")]


@broker.subscriber("notes")
async def write(note: str, settings: Settings, cid: CorrelationId) -> None:
    out.append(f"{settings['prefix']} {note} [{cid}]")


@pytest.mark.asyncio
async def test_the_aliases_resolve() -> None:
    async with TestKafkaBroker(broker) as br:
        await br.publish("remember", "notes", correlation_id="n-1")
    assert out == [">> remember [n-1]"]
