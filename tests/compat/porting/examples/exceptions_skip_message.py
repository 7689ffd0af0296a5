"""Exceptions: `SkipMessage` drops a message from a middleware, before the handler."""

from typing import Any

import pytest
from faststream import BaseMiddleware, FastStream
from faststream.exceptions import SkipMessage
from faststream.kafka import KafkaBroker, TestKafkaBroker

handled: list[str] = []


class DropHeartbeats(BaseMiddleware):
    async def consume_scope(self, call_next: Any, msg: Any) -> Any:
        if msg.headers.get("kind") == "heartbeat":
            raise SkipMessage()
        return await call_next(msg)


broker = KafkaBroker("localhost:9092", middlewares=[DropHeartbeats])
app = FastStream(broker)


@broker.subscriber("feed")
async def handle(body: str) -> None:
    handled.append(body)


@pytest.mark.asyncio
async def test_heartbeats_are_skipped() -> None:
    async with TestKafkaBroker(broker) as br:
        # Under the test broker the exception also comes out of publish().
        with pytest.raises(SkipMessage):
            await br.publish("ping", "feed", headers={"kind": "heartbeat"})
        await br.publish("data", "feed", headers={"kind": "data"})
    assert handled == ["data"]
