"""topicflow.kafka.fastapi.KafkaRouter without Kafka: FastAPI parameters in handlers,
the lifespan, the AsyncAPI routes, the optional extra.

The app is driven over ASGI by httpx (``ASGITransport``) with its lifespan entered
by hand, the broker under ``TestKafkaBroker``. The same app on uvicorn and a real
Kafka is in ``tests/integration/test_fastapi.py``.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import httpx
import pytest
from fastapi import BackgroundTasks, Depends, FastAPI, Header, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel

from topicflow import SetupError
from topicflow.kafka import KafkaRouter as BrokerRouter
from topicflow.kafka import TestKafkaBroker
from topicflow.kafka.fastapi import Context, KafkaMessage, KafkaRouter, Logger

pytestmark = pytest.mark.timeout(30)


class Order(BaseModel):
    id: int
    qty: int


@asynccontextmanager
async def running(app: FastAPI) -> AsyncIterator[tuple[httpx.AsyncClient, Any]]:
    """The app's lifespan entered, and a client that calls it over ASGI (the state the
    lifespan yields beside it: an ASGI server would give it to each request)."""
    async with app.router.lifespan_context(app) as state:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
            yield client, state


async def test_handler_takes_fastapi_and_topicflow_parameters_together() -> None:
    router = KafkaRouter("in-memory:9092")
    events: list[Any] = []

    def session() -> Iterator[str]:
        events.append("open")
        yield "session"
        events.append("close")

    def scaled(id: int, logger: Logger) -> int:  # a body field, and our Logger inside FastAPI
        assert logger is router.broker.logger
        return id * 10

    @router.subscriber("orders")
    async def handle(
        order: Order,
        logger: Logger,
        msg: KafkaMessage,
        tasks: BackgroundTasks,
        request: Request,
        db: Annotated[str, Depends(session)],
        big: Annotated[int, Depends(scaled)],
        again: Annotated[int, Depends(scaled)],
        x_token: Annotated[str, Header()] = "none",
        broker: Any = Context("broker"),
    ) -> None:
        tasks.add_task(events.append, "background")
        events.append((order, db, big, again, x_token, msg.topic, broker is router.broker))
        events.append(request.headers["x-token"])

    async with TestKafkaBroker(router.broker) as br:
        await br.publish({"id": 3, "qty": 1}, "orders", headers={"x-token": "abc"})

    assert events == [
        "open",
        (Order(id=3, qty=1), "session", 30, 30, "abc", "orders", True),
        "abc",
        "close",
        "background",
    ]


async def test_yield_dependency_sees_the_handler_error_and_background_tasks_do_not_run() -> None:
    router = KafkaRouter("in-memory:9092")
    events: list[str] = []

    async def transaction() -> AsyncIterator[str]:
        try:
            yield "tx"
        except ValueError:
            events.append("rollback")
            raise

    @router.subscriber("orders")
    async def handle(order: Order, tasks: BackgroundTasks, tx: str = Depends(transaction)) -> None:
        tasks.add_task(events.append, "background")
        raise ValueError("boom")

    async with TestKafkaBroker(router.broker) as br:
        with pytest.raises(ValueError, match="boom"):
            await br.publish({"id": 1, "qty": 1}, "orders")
    assert events == ["rollback"]


async def test_input_a_fastapi_dependency_refuses_is_raised_as_fastapi_raises_it() -> None:
    router = KafkaRouter("in-memory:9092")

    def needs_user(user: int) -> int:
        return user

    @router.subscriber("orders")
    async def handle(body: dict[str, Any], user: int = Depends(needs_user)) -> None: ...

    async with TestKafkaBroker(router.broker) as br:
        with pytest.raises(RequestValidationError):
            await br.publish({"id": 1}, "orders")
        await br.publish({"user": 7}, "orders")
        assert handle.mock.call_args_list[-1].args == ({"user": 7},)


async def test_router_dependencies_and_subscriber_dependencies_run_first() -> None:
    events: list[str] = []

    def router_level() -> None:
        events.append("router")

    def subscriber_level(x_tenant: Annotated[str, Header()]) -> None:
        events.append(f"subscriber {x_tenant}")

    router = KafkaRouter("in-memory:9092", dependencies=[Depends(router_level)])

    @router.subscriber("orders", dependencies=[Depends(subscriber_level)])
    async def handle(order: Order) -> None:
        events.append("handler")

    async with TestKafkaBroker(router.broker) as br:
        await br.publish({"id": 1, "qty": 2}, "orders", headers={"x-tenant": "acme"})
    assert events == ["router", "subscriber acme", "handler"]


async def test_the_lifespan_runs_the_broker_hooks_and_overrides() -> None:
    router = KafkaRouter("in-memory:9092")
    events: list[str] = []

    def real_db() -> str:
        return "real"

    seen = router.publisher("seen")

    @router.subscriber("orders")
    @seen
    async def handle(order: Order, db: str = Depends(real_db)) -> str:
        return f"{order.id} via {db}"

    @router.after_startup
    async def started(app: FastAPI) -> dict[str, Any]:
        events.append(f"after_startup connected={router.broker.connected}")
        return {"extra": 1}

    @router.on_broker_shutdown
    def stopping(app: FastAPI) -> None:
        events.append(f"shutdown connected={router.broker.connected}")

    @router.post("/orders")
    async def create(order: Order) -> dict[str, Any]:
        await router.broker.publish(order, "orders")
        return {"published": order.id}

    app = FastAPI(title="Shop", version="2.0.0")
    app.include_router(router)
    app.dependency_overrides[real_db] = lambda: "fake"

    async with TestKafkaBroker(router.broker), running(app) as (client, state):
        assert state == {"broker": router.broker, "extra": 1}
        response = await client.post("/orders", json={"id": 5, "qty": 1})
        assert response.json() == {"published": 5}
        handle.mock.assert_called_once_with({"id": 5, "qty": 1})
        seen.mock.assert_called_once_with("5 via fake")  # app.dependency_overrides
        page = await client.get("/asyncapi")
        document = (await client.get("/asyncapi.json")).json()
        yaml_text = (await client.get("/asyncapi.yaml")).text
    assert events == ["after_startup connected=True", "shutdown connected=True"]
    assert not router.broker.connected
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "orders" in page.text
    assert "seen" in page.text
    assert "<script src" not in page.text  # the offline page
    assert document["info"]["title"] == "Shop"
    assert document["info"]["version"] == "2.0.0"
    addresses = {channel["address"] for channel in document["channels"].values()}
    assert addresses == {"orders", "seen"}
    assert "orders" in yaml_text


async def test_lifespan_given_to_fastapi_and_included_starts_the_broker_once() -> None:
    router = KafkaRouter("in-memory:9092")
    starts: list[str] = []
    router.after_startup(lambda app: starts.append("started"))

    @router.subscriber("orders")
    async def handle(order: Order) -> None: ...

    app = FastAPI(lifespan=router.lifespan_context)
    app.include_router(router)
    async with TestKafkaBroker(router.broker):
        async with running(app):
            assert router.broker.connected
        async with running(app):  # and again, as a second TestClient would
            assert router.broker.connected
    assert starts == ["started", "started"]


async def test_schema_url_none_or_include_in_schema_false_serves_no_page() -> None:
    for router in (
        KafkaRouter("in-memory:9092", schema_url=None),
        KafkaRouter("in-memory:9092", include_in_schema=False),
    ):
        app = FastAPI()
        app.include_router(router)
        async with TestKafkaBroker(router.broker), running(app) as (client, _):
            assert (await client.get("/asyncapi")).status_code == 404


async def test_a_broker_router_included_in_the_fastapi_router_runs_on_its_broker() -> None:
    router = KafkaRouter("in-memory:9092")
    inner = BrokerRouter(prefix="shop.")

    @inner.subscriber("orders")
    async def handle(order: Order, logger: Logger) -> None: ...

    router.include_router(inner)
    async with TestKafkaBroker(router.broker) as br:
        await br.publish({"id": 1, "qty": 1}, "shop.orders")
        handle.mock.assert_called_once_with({"id": 1, "qty": 1})
    with pytest.raises(TypeError, match="include both routers in the FastAPI app"):
        router.include_router(KafkaRouter("in-memory:9092"))


async def test_a_batch_handler_with_a_fastapi_dependency_fails_saying_what_to_use() -> None:
    router = KafkaRouter("in-memory:9092")

    @router.subscriber("orders", batch=True)
    async def handle(orders: list[Order], db: str = Depends(lambda: "db")) -> None: ...

    async with TestKafkaBroker(router.broker) as br:
        with pytest.raises(RuntimeError, match=r"use topicflow\.Depends"):
            await br.publish({"id": 1, "qty": 1}, "orders")


def test_response_model_is_refused_with_the_way_out() -> None:
    router = KafkaRouter("in-memory:9092")
    with pytest.raises(SetupError, match="annotate the handler's return type"):
        router.subscriber("orders", response_model=Order)


def test_a_plain_handler_keeps_its_fast_plan_with_fastapi_imported() -> None:
    from topicflow.kafka import KafkaBroker

    broker = KafkaBroker("in-memory:9092")
    sub = broker.subscriber("orders")

    @sub
    async def handle(order: Order) -> None: ...

    assert sub.handlers[0].direct is not None  # one validation and one call per message


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_importing_topicflow_imports_no_fastapi() -> None:
    result = run_python(
        """
        import sys
        import topicflow, topicflow.kafka, topicflow.asyncapi
        print(sorted(m for m in sys.modules if m.split(".")[0] in ("fastapi", "starlette")))
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_without_fastapi_the_import_error_names_the_extra() -> None:
    result = run_python(
        """
        import sys
        sys.modules["fastapi"] = None  # as if it were not installed
        try:
            import topicflow.kafka.fastapi
        except ImportError as exc:
            print(exc)
        """
    )
    assert result.returncode == 0, result.stderr
    assert "pip install 'topicflow[fastapi]'" in result.stdout
