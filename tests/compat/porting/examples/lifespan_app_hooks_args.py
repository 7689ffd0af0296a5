"""Lifespan: hooks given to the constructor, and the broker started by the app."""

import pytest
from faststream import FastStream, TestApp
from faststream.kafka import KafkaBroker, TestKafkaBroker

calls: list[str] = []


async def warm_cache() -> None:
    calls.append("warm")


async def flush_cache() -> None:
    calls.append("flush")


broker = KafkaBroker("localhost:9092")
app = FastStream(broker, on_startup=[warm_cache], on_shutdown=[flush_cache])


@broker.subscriber("cache-events")
async def on_event(body: str) -> None:
    calls.append(body)


@pytest.mark.asyncio
async def test_constructor_hooks_run() -> None:
    async with TestKafkaBroker(broker) as br, TestApp(app):
        await br.publish("hit", "cache-events")
    assert calls == ["warm", "hit", "flush"]
