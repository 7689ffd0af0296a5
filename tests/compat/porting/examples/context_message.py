"""Context: `Context("message")` and dotted paths into it."""

from typing import Any

import pytest
from faststream import Context, FastStream
from faststream.kafka import KafkaBroker, TestKafkaBroker

broker = KafkaBroker("localhost:9092")
app = FastStream(broker)
got: dict[str, Any] = {}


@broker.subscriber("context-demo")
async def handle(
    body: str,
    message: Any = Context("message"),
    headers: dict = Context("message.headers"),
    cid: str = Context("message.correlation_id"),
) -> None:
    got.update(body=message.body, trace=headers["trace"], cid=cid)


@pytest.mark.asyncio
async def test_the_message_is_in_the_context() -> None:
    async with TestKafkaBroker(broker) as br:
        await br.publish("x", "context-demo", headers={"trace": "t-1"}, correlation_id="c-7")
    assert got == {"body": b"x", "trace": "t-1", "cid": "c-7"}
