"""Lifespan: one `lifespan=` context manager instead of separate hooks."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from faststream import Context, ContextRepo, FastStream, TestApp
from faststream.kafka import KafkaBroker, TestKafkaBroker

state: list[str] = []


@asynccontextmanager
async def lifespan(context: ContextRepo) -> AsyncIterator[None]:
    context.set_global("model", {"loaded": True})
    state.append("loaded")
    yield
    state.append("unloaded")


broker = KafkaBroker("localhost:9092")
app = FastStream(broker, lifespan=lifespan)


@broker.subscriber("predict")
async def predict(x: int, model: dict = Context()) -> None:
    state.append(f"predict {x} loaded={model['loaded']}")


@pytest.mark.asyncio
async def test_the_lifespan_wraps_the_app() -> None:
    async with TestKafkaBroker(broker) as br, TestApp(app):
        await br.publish(3, "predict")
    assert state == ["loaded", "predict 3 loaded=True", "unloaded"]
