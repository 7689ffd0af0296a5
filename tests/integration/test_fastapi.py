"""topicflow.kafka.fastapi on real parts: uvicorn serving the FastAPI app on a loopback
port, httpx calling it, a real Kafka behind it."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import httpx
import pytest
import uvicorn
from fastapi import Depends, FastAPI, Header, Request
from pydantic import BaseModel

from tests.helpers import committed_offsets, eventually
from topicflow.kafka import TopicPartition
from topicflow.kafka.fastapi import Context, KafkaMessage, KafkaRouter, Logger

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(90)]


class Order(BaseModel):
    id: int
    qty: int


@asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[str]:
    """``app`` served by uvicorn (its lifespan on) in this loop; yields its base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, lifespan="on", log_level="warning")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        await eventually(lambda: server.started or task.done(), timeout=30)
        assert server.started, "uvicorn did not start (the lifespan failed?)"
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)
        sock.close()


async def test_a_post_endpoint_publishes_and_a_subscriber_with_dependencies_receives_it(
    bootstrap: str, topic: str, group: str, create_topic: Any
) -> None:
    await create_topic(topic, 1)
    router = KafkaRouter(bootstrap)
    received: list[dict[str, Any]] = []
    closed: list[str] = []

    async def repository(x_tenant: Annotated[str, Header()]) -> AsyncIterator[dict[str, Any]]:
        yield {"tenant": x_tenant, "orders": received}
        closed.append(x_tenant)

    @router.subscriber(topic, group_id=group, auto_offset_reset="earliest")
    async def store(
        order: Order,
        logger: Logger,
        msg: KafkaMessage,
        repo: Annotated[dict[str, Any], Depends(repository)],
        broker: Any = Context("broker"),
    ) -> None:
        logger.info("storing order %s", order.id)
        repo["orders"].append(
            {
                "order": order,
                "tenant": repo["tenant"],
                "offset": msg.offset,
                "broker": broker is router.broker,
            }
        )

    @router.post("/orders", status_code=202)
    async def create(order: Order, request: Request) -> dict[str, Any]:
        meta = await router.broker.publish(order, topic, headers={"x-tenant": "acme"})
        return {"offset": meta.offset, "state": "broker" in request.state._state}

    app = FastAPI(title="Shop")
    app.include_router(router)

    async with serving(app) as url, httpx.AsyncClient(base_url=url, timeout=30) as client:
        assert router.broker.connected
        response = await client.post("/orders", json={"id": 7, "qty": 2})
        assert response.status_code == 202
        assert response.json() == {"offset": 0, "state": True}
        await eventually(lambda: len(received) == 1, timeout=30)
        page = await client.get("/asyncapi")
        document = (await client.get("/asyncapi.json")).json()

    assert received == [
        {"order": Order(id=7, qty=2), "tenant": "acme", "offset": 0, "broker": True}
    ]
    assert closed == ["acme"]
    # The lifespan stopped the broker, which committed what finished.
    assert not router.broker.connected
    assert await committed_offsets(bootstrap, group) == {TopicPartition(topic, 0): 1}
    assert page.status_code == 200
    assert topic in page.text
    assert document["info"]["title"] == "Shop"
    assert [c["address"] for c in document["channels"].values()] == [topic]


async def test_the_lifespan_context_form_runs_the_broker_and_its_hooks(
    bootstrap: str, topic: str, group: str
) -> None:
    router = KafkaRouter(bootstrap, schema_url=None)
    events: list[str] = []

    @router.subscriber(topic, group_id=group)
    async def handle(order: Order) -> None: ...

    @router.after_startup
    async def started(app: FastAPI) -> None:
        events.append(f"started {await router.broker.ping(5)}")

    @router.on_broker_shutdown
    async def stopping(app: FastAPI) -> None:
        events.append(f"stopping {router.broker.connected}")

    app = FastAPI(lifespan=router.lifespan_context)  # the router itself is not included

    @app.get("/ping")
    async def ping() -> dict[str, bool]:
        return {"kafka": await router.broker.ping(5)}

    async with serving(app) as url, httpx.AsyncClient(base_url=url, timeout=30) as client:
        assert (await client.get("/ping")).json() == {"kafka": True}
        assert (await client.get("/asyncapi")).status_code == 404  # schema_url=None
    assert events == ["started True", "stopping True"]
    assert not router.broker.connected
