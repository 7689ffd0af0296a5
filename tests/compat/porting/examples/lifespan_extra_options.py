"""Lifespan: `TestApp(run_extra_options=...)` passes what `faststream run --env` would."""

import pytest
from faststream import ContextRepo, FastStream, TestApp
from faststream.kafka import KafkaBroker, TestKafkaBroker

broker = KafkaBroker("localhost:9092")
app = FastStream(broker)
seen: list[str] = []


@app.on_startup
async def configure(context: ContextRepo, env: str = "prod") -> None:
    seen.append(env)
    context.set_global("env", env)


@pytest.mark.asyncio
async def test_the_option_reaches_the_hook() -> None:
    async with TestKafkaBroker(broker), TestApp(app, run_extra_options={"env": "test"}):
        assert app.context.get("env") == "test"
    assert seen == ["test"]
