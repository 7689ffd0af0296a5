"""FastAPI integration: the router's lifespan starts the broker and runs its hooks."""

from typing import Any

import pytest
from fastapi import FastAPI
from faststream.kafka import TestKafkaBroker
from faststream.kafka.fastapi import KafkaRouter

router = KafkaRouter("localhost:9092")
events: list[str] = []


@router.subscriber("pings")
async def pong(text: str) -> None: ...


@router.after_startup
async def started(app: FastAPI) -> dict[str, Any]:
    await router.broker.publish("first", "pings")
    events.append(f"started {app.title}")
    return {"ready": True}


@router.on_broker_shutdown
async def stopping(app: FastAPI) -> None:
    events.append("stopping")


app = FastAPI(title="pinger", lifespan=router.lifespan_context)


@pytest.mark.asyncio
async def test_the_lifespan_runs_the_hooks_around_the_broker() -> None:
    async with TestKafkaBroker(router.broker), router.lifespan_context(app) as state:
        assert state["ready"] is True
        assert state["broker"] is router.broker
        pong.mock.assert_called_once_with("first")
    assert events == ["started pinger", "stopping"]
