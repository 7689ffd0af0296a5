"""Middlewares: `BaseMiddleware` hooks around each message, broker-wide."""

from types import TracebackType

import pytest
from faststream import BaseMiddleware, FastStream
from faststream.kafka import KafkaBroker, TestKafkaBroker

events: list[str] = []


class TraceMiddleware(BaseMiddleware):
    async def on_receive(self) -> None:
        events.append(f"receive {self.msg.value!r}")
        return await super().on_receive()

    async def after_processed(
        self,
        exc_type: type[BaseException] | None = None,
        exc_val: BaseException | None = None,
        exc_tb: TracebackType | None = None,
    ) -> bool | None:
        events.append(f"processed, error={exc_type is not None}")
        return await super().after_processed(exc_type, exc_val, exc_tb)


broker = KafkaBroker("localhost:9092", middlewares=[TraceMiddleware])
app = FastStream(broker)


@broker.subscriber("traced")
async def handle(body: str) -> None:
    events.append(f"handle {body}")


@pytest.mark.asyncio
async def test_the_hooks_run_around_the_handler() -> None:
    async with TestKafkaBroker(broker) as br:
        await br.publish("m1", "traced")
    assert events == ["receive b'm1'", "handle m1", "processed, error=False"]
