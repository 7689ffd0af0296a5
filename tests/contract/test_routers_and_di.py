"""Contract: routers and prefixes, dependency injection, and middleware order."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pydantic import BaseModel

from tests.contract.conftest import Backend
from topicflow import BaseMiddleware, Context, Depends, Header
from topicflow.exceptions import DecodeError
from topicflow.kafka import KafkaMessage, KafkaRouter

EARLY: dict[str, Any] = {"auto_offset_reset": "earliest"}


class Order(BaseModel):
    id: int


async def test_a_router_included_twice_runs_twice_under_its_prefixes(
    backend: Backend, topic: str
) -> None:
    router = KafkaRouter(prefix="svc.")
    out = router.publisher("out")  # gets the router's prefixes, per inclusion
    forward = router.subscriber("in", **EARLY)

    @forward
    @out
    async def handle(body: str, msg: KafkaMessage) -> str:
        return f"{msg.topic}:{body}"

    broker = backend.broker()
    broker.include_router(router, prefix=f"{topic}-a.")
    broker.include_router(router, prefix=f"{topic}-b.")
    a, b = f"{topic}-a.svc", f"{topic}-b.svc"
    got: list[tuple[str, str]] = []

    @broker.subscriber(f"{a}.out", f"{b}.out", **EARLY)
    async def collect(body: str, msg: KafkaMessage) -> None:
        got.append((msg.topic, body))

    async with backend.run(broker) as br:
        await br.publish("x", f"{a}.in")
        await br.publish("y", f"{b}.in")
        assert got == [(f"{a}.out", f"{a}.in:x"), (f"{b}.out", f"{b}.in:y")]
        # One mock for the declared subscriber and publisher, whichever copy ran.
        assert [c.args for c in forward.mock.call_args_list] == [("x",), ("y",)]  # type: ignore[attr-defined]
        assert [c.args for c in out.mock.call_args_list] == [  # type: ignore[attr-defined]
            (f"{a}.in:x",),
            (f"{b}.in:y",),
        ]


async def test_prefixes_nest_outermost_first(backend: Backend, topic: str) -> None:
    inner = KafkaRouter(prefix="inner.")
    outer = KafkaRouter(prefix="outer.")
    got: list[str] = []

    @inner.subscriber("t", **EARLY)
    async def handle(body: str, msg: KafkaMessage) -> None:
        got.append(msg.topic)

    outer.include_router(inner)
    broker = backend.broker()
    broker.include_router(outer, prefix=f"{topic}.")
    async with backend.run(broker) as br:
        await br.publish("x", f"{topic}.outer.inner.t")
        await br.publish("not mine", f"{topic}.inner.t")  # waits for nobody
        assert got == [f"{topic}.outer.inner.t"]


async def test_depends_context_and_header(
    backend: Backend, topic: str, caplog: pytest.LogCaptureFixture
) -> None:
    broker = backend.broker()
    broker.context.set_global("tenant", "acme")
    events: list[str] = []
    handled: list[tuple[int, str, str, int]] = []

    async def session(tenant: str = Context("tenant")) -> AsyncIterator[str]:
        events.append(f"open:{tenant}")
        yield f"session-{tenant}"
        events.append("close")  # after the handler

    def user(x_user: str = Header("x-user")) -> str:
        return x_user.upper()

    @broker.subscriber(topic, **EARLY)
    async def handle(
        order: Order,
        who: str = Depends(user),
        db: str = Depends(session),
        trace: int = Header(),  # the header named like the parameter, validated as int
    ) -> None:
        events.append("handler")
        handled.append((order.id, who, db, trace))

    caplog.set_level(logging.ERROR, logger="topicflow")
    async with backend.run(broker) as br:
        await br.publish(Order(id=1), topic, headers={"x-user": "ann", "trace": "7"})
        assert handled == [(1, "ANN", "session-acme", 7)]
        assert events == ["open:acme", "handler", "close"]
        with pytest.raises(DecodeError, match="no header 'x-user'"):  # poison
            await br.publish(Order(id=2), topic, headers={"trace": "8"})
        assert handled == [(1, "ANN", "session-acme", 7)]
    errors = [r.getMessage() for r in caplog.records if r.name == "topicflow"]
    assert len(errors) == 1
    assert "x-user" in errors[0]


def recorder(log: list[str], name: str) -> type[BaseMiddleware]:
    class Recorder(BaseMiddleware):
        async def on_receive(self) -> None:
            log.append(f"{name}:receive:{self.msg.topic}")

        async def consume_scope(self, call_next: Any, msg: Any) -> Any:
            log.append(f"{name}:consume")
            return await call_next(msg)

        async def publish_scope(self, call_next: Any, cmd: Any) -> Any:
            log.append(f"{name}:publish:{cmd.topic}")
            return await call_next(cmd)

        async def after_processed(self, *args: Any) -> bool:
            log.append(f"{name}:processed")
            return False

    return Recorder


async def test_middlewares_wrap_consume_and_publish_outermost_first(
    backend: Backend, topic: str
) -> None:
    log: list[str] = []
    router = KafkaRouter(middlewares=[recorder(log, "router")])
    out = router.publisher(f"{topic}-out")

    @router.subscriber(topic, **EARLY)
    @out
    async def handle(body: str) -> str:
        log.append("handler")
        return body.upper()

    broker = backend.broker(middlewares=[recorder(log, "broker")])
    broker.include_router(router, middlewares=[recorder(log, "include")])
    async with backend.run(broker) as br:
        await br.publish("hi", topic)
        assert log == [
            f"broker:publish:{topic}",  # the test's own publish
            f"broker:receive:{topic}",
            f"include:receive:{topic}",
            f"router:receive:{topic}",
            "broker:consume",
            "include:consume",
            "router:consume",
            "handler",
            f"broker:publish:{topic}-out",  # the handler's result
            f"include:publish:{topic}-out",
            f"router:publish:{topic}-out",
            "router:processed",
            "include:processed",
            "broker:processed",
        ]
        out.mock.assert_called_once_with("HI")  # type: ignore[attr-defined]
