"""Middlewares: a middleware given to a router wraps only that router's subscribers."""

from typing import Any

import pytest
from faststream import BaseMiddleware, FastStream
from faststream.kafka import KafkaBroker, KafkaRouter, TestKafkaBroker

wrapped: list[str] = []


class TagMiddleware(BaseMiddleware):
    async def consume_scope(self, call_next: Any, msg: Any) -> Any:
        wrapped.append(msg.raw_message.topic)
        return await call_next(msg)


router = KafkaRouter(middlewares=[TagMiddleware])
broker = KafkaBroker("localhost:9092")
app = FastStream(broker)


@router.subscriber("inside")
async def inside(body: str) -> None:
    pass


@broker.subscriber("outside")
async def outside(body: str) -> None:
    pass


broker.include_router(router)


@pytest.mark.asyncio
async def test_only_the_router_is_wrapped() -> None:
    async with TestKafkaBroker(broker) as br:
        await br.publish("a", "inside")
        await br.publish("b", "outside")
    assert wrapped == ["inside"]
