"""Dependencies, context, codecs and middlewares on the real Kafka."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import pytest
from pydantic import BaseModel

from tests.helpers import eventually, read_all
from topicflow import BaseMiddleware, Context, Depends, Header
from topicflow.kafka import KafkaBroker, KafkaMessage

pytestmark = pytest.mark.kafka

EARLY = {"auto_offset_reset": "earliest"}


class Order(BaseModel):
    id: int
    qty: int


def tag() -> str:
    return uuid.uuid4().hex[:8]


EVENTS: list[str] = []
CALLS = {"shared": 0}


def shared() -> int:
    CALLS["shared"] += 1
    return 7


async def uses_shared(value: int = Depends(shared)) -> int:
    return value * 2


def session(order_id: int) -> Any:  # a generator, taking a field of the body
    EVENTS.append(f"open {order_id}")
    yield f"session-{order_id}"
    EVENTS.append(f"close {order_id}")


async def connection() -> Any:  # an async generator
    EVENTS.append("connect")
    try:
        yield "conn"
    finally:
        EVENTS.append("disconnect")


async def test_dependencies_sync_async_generators_cached_and_cleaned_up(
    bootstrap: str, topic: str
) -> None:
    events = EVENTS
    calls = CALLS
    events.clear()
    calls["shared"] = 0
    broker = KafkaBroker(bootstrap)
    seen: list[tuple[Any, ...]] = []

    @broker.subscriber(topic, **EARLY)
    async def handle(
        order_id: int,
        qty: int,
        a: int = Depends(shared),
        b: int = Depends(uses_shared),
        s: str = Depends(session),
        c: Annotated[str, Depends(connection)] = "",
        msg: KafkaMessage = Context("message"),
        found_broker: Any = Context("broker"),
        trace: str = Header(default="none"),
    ) -> None:
        events.append("handler")
        seen.append((order_id, qty, a, b, s, c, msg.offset, found_broker is broker, trace))
        if qty < 0:
            raise ValueError("negative quantity")

    async with broker:
        await broker.start()
        await broker.publish({"order_id": 1, "qty": 2}, topic, headers={"trace": "t-1"})
        await eventually(lambda: "close 1" in events)
        await broker.publish({"order_id": 2, "qty": -1}, topic)
        await eventually(lambda: "close 2" in events)

    assert seen[0] == (1, 2, 7, 14, "session-1", "conn", 0, True, "t-1")
    assert seen[1][-1] == "none"  # the header's default
    assert calls["shared"] == 2  # once per message, though used twice in the graph
    # Cleanup after the handler, also when it raised; last opened, first closed.
    assert events == [
        "open 1",
        "connect",
        "handler",
        "disconnect",
        "close 1",
        "open 2",
        "connect",
        "handler",
        "disconnect",
        "close 2",
    ]


async def test_level_dependencies_and_context_globals(bootstrap: str, topic: str) -> None:
    order: list[str] = []

    def audit(msg: KafkaMessage = Context("message")) -> None:
        order.append(f"audit {msg.offset}")

    def tenant(name: str = Context("tenant")) -> None:
        order.append(f"tenant {name}")

    broker = KafkaBroker(bootstrap, dependencies=[Depends(audit)])
    broker.context.set_global("tenant", "acme")

    @broker.subscriber(topic, dependencies=[Depends(tenant)], **EARLY)
    async def handle(body: str) -> None:
        order.append(body)

    async with broker:
        await broker.start()
        await broker.publish("payload", topic)
        await eventually(lambda: "payload" in order)
    assert order == ["audit 0", "tenant acme", "payload"]


async def test_custom_decoder_and_parser_one_and_two_argument_forms(
    bootstrap: str, topic: str
) -> None:
    got: list[Any] = []

    def parse_one(record: Any) -> KafkaMessage:
        record.headers = (*record.headers, ("parsed", b"yes"))
        return KafkaMessage(record)

    def decode_csv(msg: KafkaMessage) -> dict[str, int]:  # one argument: no JSON at all
        id_, qty = msg.body.decode().split(",")
        return {"id": int(id_), "qty": int(qty)}

    broker = KafkaBroker(bootstrap)

    @broker.subscriber(topic, parser=parse_one, decoder=decode_csv, **EARLY)
    async def handle(order: Order, msg: KafkaMessage) -> None:
        got.append((order, msg.headers["parsed"]))

    async with broker:
        await broker.start()
        await broker.publish(b"5,3", topic)
        await eventually(lambda: len(got) == 1)
    assert got == [(Order(id=5, qty=3), "yes")]


def hook_recorder(log: list[str]) -> type[BaseMiddleware]:
    class Hooks(BaseMiddleware):
        async def on_receive(self) -> None:
            log.append("on_receive")

        async def consume_scope(self, call_next: Any, msg: KafkaMessage) -> Any:
            log.append("consume_scope:before")
            try:
                return await call_next(msg)
            finally:
                log.append("consume_scope:after")

        async def publish_scope(self, call_next: Any, cmd: Any) -> Any:
            log.append(f"publish_scope:{cmd.topic.split('-')[-1]}")
            return await call_next(cmd)

        async def after_processed(self, exc_type: Any, exc: Any, tb: Any) -> bool:
            log.append(f"after_processed:{exc_type.__name__ if exc_type else None}")
            return isinstance(exc, KeyError)  # suppress KeyError only

    return Hooks


async def test_middleware_hooks_for_a_consume_that_publishes_and_one_that_fails(
    bootstrap: str, caplog: pytest.LogCaptureFixture
) -> None:
    t = tag()
    log: list[str] = []
    broker = KafkaBroker(bootstrap, middlewares=[hook_recorder(log)])

    @broker.subscriber(f"in-{t}", **EARLY)
    @broker.publisher(f"{t}-out")
    async def handle(body: str) -> str:
        log.append("handler")
        if body == "fail":
            raise RuntimeError("boom")
        if body == "suppressed":
            raise KeyError("hidden")
        return body

    # Inputs come from a plain producer, so only the service's own publishes are logged.
    async with broker, KafkaBroker(bootstrap) as producer:
        await broker.start()
        await producer.publish("ok", f"in-{t}")
        await eventually(lambda: log.count("after_processed:None") == 1)
        first = list(log)
        log.clear()
        await producer.publish("fail", f"in-{t}")
        await eventually(lambda: any(e.startswith("after_processed") for e in log))
        second = list(log)
        log.clear()
        await producer.publish("suppressed", f"in-{t}")
        await eventually(lambda: any(e.startswith("after_processed") for e in log))

    assert first == [
        "on_receive",
        "consume_scope:before",
        "handler",
        "publish_scope:out",  # the @publisher publish goes through the middleware too
        "consume_scope:after",
        "after_processed:None",
    ]
    assert second == [
        "on_receive",
        "consume_scope:before",
        "handler",
        "consume_scope:after",
        "after_processed:RuntimeError",
    ]
    handler_errors = [r for r in caplog.records if "failed" in r.getMessage()]
    assert len(handler_errors) == 1  # the suppressed KeyError is not logged as a failure


async def test_direct_publishes_go_through_middlewares(bootstrap: str, topic: str) -> None:
    log: list[str] = []

    class Stamp(BaseMiddleware):
        async def publish_scope(self, call_next: Any, cmd: Any) -> Any:
            cmd.headers = {**cmd.headers, "stamped": "1"}
            log.append(cmd.topic)
            return await call_next(cmd)

    broker = KafkaBroker(bootstrap, middlewares=[Stamp])
    async with broker:
        await broker.publish("a", topic)
        await broker.publish_batch("b", "c", topic=topic)
    records = await read_all(bootstrap, topic, 3)
    assert [r.value for r in records] == [b"a", b"b", b"c"]
    assert all(dict(r.headers)["stamped"] == b"1" for r in records)
    assert log == [topic, topic]
