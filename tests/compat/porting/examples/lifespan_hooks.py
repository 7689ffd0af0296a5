"""Lifespan: the four hooks run in order around the broker."""

import pytest
from faststream import FastStream, TestApp
from faststream.kafka import KafkaBroker, TestKafkaBroker

broker = KafkaBroker("localhost:9092")
app = FastStream(broker)
order: list[str] = []


@app.on_startup
async def before_start() -> None:
    order.append("on_startup")


@app.after_startup
async def started() -> None:
    order.append("after_startup")


@app.on_shutdown
async def before_stop() -> None:
    order.append("on_shutdown")


@app.after_shutdown
def stopped() -> None:
    order.append("after_shutdown")


@pytest.mark.asyncio
async def test_the_hooks_run_in_order() -> None:
    async with TestKafkaBroker(broker), TestApp(app):
        assert order == ["on_startup", "after_startup"]
    assert order == ["on_startup", "after_startup", "on_shutdown", "after_shutdown"]
