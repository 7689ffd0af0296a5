"""Middlewares: `publish_scope` sees a `PublishCommand` with its destination, type and headers."""

from typing import Any

import pytest
from faststream import BaseMiddleware, FastStream, Header, PublishCommand, PublishType
from faststream.kafka import KafkaBroker, TestKafkaBroker

seen: list[tuple[str, PublishType]] = []


class Stamp(BaseMiddleware):
    async def publish_scope(self, call_next: Any, cmd: PublishCommand) -> Any:
        seen.append((cmd.destination, cmd.publish_type))
        cmd.add_headers({"stamped": "yes"})
        return await call_next(cmd)


broker = KafkaBroker("localhost:9092", middlewares=[Stamp])
app = FastStream(broker)


@broker.subscriber("stamp-in")
async def handle(body: str, stamped: str = Header()) -> str:
    return f"{body}:{stamped}"


@pytest.mark.asyncio
async def test_the_middleware_sees_and_changes_the_command() -> None:
    async with TestKafkaBroker(broker) as br:
        await br.publish("hi", "stamp-in")
        handle.mock.assert_called_once_with("hi")
        reply = await br.request("again", "stamp-in")
        assert await reply.decode() == "again:yes"
    assert ("stamp-in", PublishType.PUBLISH) in seen
    assert ("stamp-in", PublishType.REQUEST) in seen
