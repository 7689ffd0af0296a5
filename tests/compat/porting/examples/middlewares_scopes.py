"""Middlewares: `consume_scope` sees the decoded message, `publish_scope` each publish."""

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from faststream import BaseMiddleware, FastStream
from faststream.kafka import KafkaBroker, TestKafkaBroker
from faststream.message import StreamMessage

seen: list[str] = []


class AuditMiddleware(BaseMiddleware):
    async def consume_scope(
        self, call_next: Callable[[Any], Awaitable[Any]], msg: StreamMessage[Any]
    ) -> Any:
        seen.append(f"consume {await msg.decode()}")
        return await call_next(msg)

    async def publish_scope(self, call_next: Callable[[Any], Awaitable[Any]], cmd: Any) -> Any:
        seen.append(f"publish {cmd.body}")
        return await call_next(cmd)


broker = KafkaBroker("localhost:9092", middlewares=[AuditMiddleware])
app = FastStream(broker)


@broker.subscriber("audited-in")
@broker.publisher("audited-out")
async def handle(body: str) -> str:
    return body + "!"


@pytest.mark.asyncio
async def test_both_scopes_see_the_flow() -> None:
    async with TestKafkaBroker(broker) as br:
        await br.publish("hi", "audited-in")
    assert "consume hi" in seen
    assert "publish hi!" in seen
