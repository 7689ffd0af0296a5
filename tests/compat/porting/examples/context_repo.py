"""Context: `ContextRepo` in a handler: set, read, and scope values."""

import pytest
from faststream import Context, ContextRepo, FastStream
from faststream.kafka import KafkaBroker, TestKafkaBroker

broker = KafkaBroker("localhost:9092")
app = FastStream(broker)
out: list[object] = []


@broker.subscriber("ctx")
async def handle(body: str, context: ContextRepo) -> None:
    context.set_global("last_body", body)
    with context.scope("request_user", "ann"):
        out.append(context.get("request_user"))
    out.append(context.get("request_user", "nobody"))


@broker.subscriber("ctx-read")
async def read(body: str, last: str = Context("last_body")) -> None:
    out.append(last)


@pytest.mark.asyncio
async def test_the_repository_is_shared() -> None:
    async with TestKafkaBroker(broker) as br:
        await br.publish("first", "ctx")
        await br.publish("any", "ctx-read")
    assert out == ["ann", "nobody", "first"]
