"""KafkaRouter, include_router, KafkaRoute and KafkaPublisher: each parameter has its effect.

Every test runs on the real Kafka; each one fails if the parameter it names were ignored.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.helpers import committed_offsets, eventually, read_all
from topicflow import AckPolicy, BaseMiddleware, Depends, SetupError
from topicflow.kafka import (
    KafkaBroker,
    KafkaMessage,
    KafkaPublisher,
    KafkaRoute,
    KafkaRouter,
)
from topicflow.kafka.broker.router import KafkaRouter as KafkaRouterByPath

pytestmark = pytest.mark.kafka

EARLY = {"auto_offset_reset": "earliest"}


def tag() -> str:
    return uuid.uuid4().hex[:8]


def recorder(log: list[str], name: str) -> type[BaseMiddleware]:
    class Recorder(BaseMiddleware):
        async def on_receive(self) -> None:
            log.append(f"{name}:receive")

        async def consume_scope(self, call_next: Any, msg: Any) -> Any:
            log.append(f"{name}:consume")
            return await call_next(msg)

        async def after_processed(self, *args: Any) -> bool:
            log.append(f"{name}:processed")
            return False

    return Recorder


def dependency(log: list[str], name: str) -> Any:
    def record() -> None:
        log.append(f"dep:{name}")

    record.__name__ = f"dep_{name}"
    return Depends(record)


def test_the_reference_module_path_exists() -> None:
    assert KafkaRouterByPath is KafkaRouter


async def test_prefixes_concatenate_outermost_first(bootstrap: str) -> None:
    t = tag()
    broker = KafkaBroker(bootstrap)
    inner = KafkaRouter(prefix=f"b{t}.")
    got: list[str] = []

    @inner.subscriber("t", **EARLY)
    async def handle(body: str, msg: KafkaMessage) -> None:
        got.append(msg.topic)

    broker.include_router(inner, prefix=f"a{t}.")
    async with broker:
        await broker.start()
        await broker.publish("x", f"a{t}.b{t}.t")
        await eventually(lambda: got == [f"a{t}.b{t}.t"])


async def test_prefix_applies_to_publishers_and_patterns(bootstrap: str, create_topic: Any) -> None:
    t = tag()
    router = KafkaRouter(prefix=f"svc{t}.")
    seen: list[tuple[str, str]] = []

    @router.subscriber("in", **EARLY)
    @router.publisher("out")
    async def forward(body: str) -> str:
        return body.upper()

    await create_topic(f"svc{t}.logs.error", 1)

    @router.subscriber(pattern=r"logs\.{level}", group_id=f"g{t}", **EARLY)
    async def logs(body: str, msg: KafkaMessage) -> None:
        seen.append((msg.topic, body))

    broker = KafkaBroker(bootstrap, routers=[router])
    async with broker:
        await broker.start()
        await broker.publish("hi", f"svc{t}.in")
        await broker.publish("boom", f"svc{t}.logs.error")
        await broker.publish("not mine", f"logs.error.{t}")
        await eventually(lambda: seen == [(f"svc{t}.logs.error", "boom")])
    records = await read_all(bootstrap, f"svc{t}.out", 1)
    assert records[0].value == b"HI"  # published to svc.out, not to out


async def test_middleware_and_dependency_order_across_three_levels(bootstrap: str) -> None:
    t = tag()
    log: list[str] = []
    inner = KafkaRouter(
        prefix="inner.",
        middlewares=[recorder(log, "inner")],
        dependencies=[dependency(log, "inner")],
    )
    outer = KafkaRouter(
        prefix=f"outer{t}.",
        middlewares=[recorder(log, "outer")],
        dependencies=[dependency(log, "outer")],
    )
    broker = KafkaBroker(
        bootstrap, middlewares=[recorder(log, "broker")], dependencies=[dependency(log, "broker")]
    )

    @inner.subscriber("t", dependencies=[dependency(log, "subscriber")], **EARLY)
    async def handle(body: str) -> None:
        log.append("handler")

    # Declared in an order that differs from the result: settings resolve at start.
    broker.include_router(
        outer,
        middlewares=[recorder(log, "include-outer")],
        dependencies=[dependency(log, "include-outer")],
    )
    outer.include_router(
        inner,
        middlewares=[recorder(log, "include-inner")],
        dependencies=[dependency(log, "include-inner")],
    )
    inner.add_middleware(recorder(log, "inner-added"))  # innermost of inner's own
    inner.insert_middleware(recorder(log, "inner-inserted"))  # outermost of inner's own

    async with broker:
        await broker.start()
        await broker.publish("x", f"outer{t}.inner.t")
        await eventually(lambda: "handler" in log and log[-1].endswith("processed"))

    levels = [
        "broker",
        "include-outer",
        "outer",
        "include-inner",
        "inner-inserted",
        "inner",
        "inner-added",
    ]
    assert log == [
        *(f"{name}:receive" for name in levels),
        *(f"{name}:consume" for name in levels),
        "dep:broker",
        "dep:include-outer",
        "dep:outer",
        "dep:include-inner",
        "dep:inner",
        "dep:subscriber",
        "handler",
        *(f"{name}:processed" for name in reversed(levels)),
    ]


async def test_parser_and_decoder_precedence(bootstrap: str) -> None:
    t = tag()
    calls: list[str] = []

    def decoder(name: str) -> Any:
        async def decode(msg: KafkaMessage, original: Any) -> Any:
            calls.append(f"decoder:{name}")
            return await original(msg)

        return decode

    def parser(name: str) -> Any:
        def parse(record: Any, original: Any) -> Any:
            calls.append(f"parser:{name}")
            return original(record)

        return parse

    broker = KafkaBroker(bootstrap, parser=parser("broker"), decoder=decoder("broker"))
    router = KafkaRouter(prefix=f"p{t}.", parser=parser("router"), decoder=decoder("router"))
    got: list[Any] = []

    @router.subscriber("a", **EARLY)
    async def by_router(body: dict[str, int]) -> None:
        got.append(body)

    @router.subscriber("b", parser=parser("sub"), decoder=decoder("sub"), **EARLY)
    async def by_subscriber(body: dict[str, int]) -> None:
        got.append(body)

    @broker.subscriber(f"p{t}.c", **EARLY)
    async def by_broker(body: dict[str, int]) -> None:
        got.append(body)

    broker.include_router(router)
    async with broker:
        await broker.start()
        await broker.publish({"a": 1}, f"p{t}.a")
        await eventually(lambda: len(got) == 1)
        await broker.publish({"b": 2}, f"p{t}.b")
        await eventually(lambda: len(got) == 2)
        await broker.publish({"c": 3}, f"p{t}.c")
        await eventually(lambda: len(got) == 3)
    assert got == [{"a": 1}, {"b": 2}, {"c": 3}]
    assert calls == [
        "parser:router",
        "decoder:router",
        "parser:sub",
        "decoder:sub",
        "parser:broker",
        "decoder:broker",
    ]


async def test_ack_policy_is_inherited_and_overridable(bootstrap: str) -> None:
    t = tag()
    router = KafkaRouter(prefix=f"ack{t}.", ack_policy=AckPolicy.MANUAL)
    seen: list[str] = []

    @router.subscriber("inherits", group_id=f"g1{t}", **EARLY)
    async def inherits(body: str) -> None:
        seen.append("inherits")  # MANUAL and never acked: nothing committed

    @router.subscriber("overrides", group_id=f"g2{t}", ack_policy=AckPolicy.ACK, **EARLY)
    async def overrides(body: str) -> None:
        seen.append("overrides")

    broker = KafkaBroker(bootstrap)
    broker.include_router(router)
    async with broker:
        await broker.start()
        await broker.publish("x", f"ack{t}.inherits")
        await broker.publish("x", f"ack{t}.overrides")
        await eventually(lambda: sorted(seen) == ["inherits", "overrides"])
    assert await committed_offsets(bootstrap, f"g1{t}") == {}
    assert sum((await committed_offsets(bootstrap, f"g2{t}")).values()) == 1


async def test_include_in_schema_false_hides_everything_beneath(bootstrap: str) -> None:
    inner = KafkaRouter()
    inner.subscriber("deep")(lambda body: None)
    outer = KafkaRouter(routers=[inner])
    outer.subscriber("shallow")(lambda body: None)
    shown = KafkaRouter()
    shown.subscriber("shown")(lambda body: None)
    hidden_by_include = KafkaRouter()
    hidden_by_include.subscriber("by-include")(lambda body: None)
    broker = KafkaBroker(bootstrap)
    broker.include_router(KafkaRouter(include_in_schema=False, routers=[outer]))
    broker.include_router(shown)
    broker.include_router(hidden_by_include, include_in_schema=False)
    visible = {sub.topics[0]: sub.include_in_schema for sub in broker.resolve()}
    assert visible == {"deep": False, "shallow": False, "shown": True, "by-include": False}


async def test_one_router_included_twice_gives_two_independent_sets(bootstrap: str) -> None:
    t = tag()
    router = KafkaRouter()
    got: list[str] = []

    @router.subscriber("orders", **EARLY)
    @router.publisher("done")
    async def handle(body: str, msg: KafkaMessage) -> str:
        got.append(msg.topic)
        return body

    broker = KafkaBroker(bootstrap)
    broker.include_router(router, prefix=f"eu{t}.")
    broker.include_router(router, prefix=f"us{t}.")
    async with broker:
        await broker.start()
        assert sorted(s.topics[0] for s in broker.resolve()) == [
            f"eu{t}.orders",
            f"us{t}.orders",
        ]
        await broker.publish("1", f"eu{t}.orders")
        await broker.publish("2", f"us{t}.orders")
        await eventually(lambda: sorted(got) == [f"eu{t}.orders", f"us{t}.orders"])
    # Each copy publishes under its own prefix.
    assert [r.value for r in await read_all(bootstrap, f"eu{t}.done", 1)] == [b"1"]
    assert [r.value for r in await read_all(bootstrap, f"us{t}.done", 1)] == [b"2"]


async def test_routes_and_publishers_without_decorators(bootstrap: str) -> None:
    t = tag()
    got: list[str] = []

    async def shout(body: str) -> str:
        got.append(body)
        return body.upper()

    router = KafkaRouter(
        prefix=f"r{t}.",
        handlers=[
            KafkaRoute(
                shout,
                "in",
                publishers=[KafkaPublisher("out", headers={"via": "route"})],
                **EARLY,
            )
        ],
    )
    broker = KafkaBroker(bootstrap)
    broker.include_router(router)
    async with broker:
        await broker.start()
        await broker.publish("hey", f"r{t}.in")
        await eventually(lambda: got == ["hey"])
    [record] = await read_all(bootstrap, f"r{t}.out", 1)
    assert record.value == b"HEY"
    assert dict(record.headers)["via"] == b"route"


async def test_nesting_to_any_depth_with_routers_argument(bootstrap: str) -> None:
    t = tag()
    got: list[str] = []
    deepest = KafkaRouter(prefix="d.")

    @deepest.subscriber("t", **EARLY)
    async def handle(body: str, msg: KafkaMessage) -> None:
        got.append(msg.topic)

    level3 = KafkaRouter(prefix="c.", routers=[deepest])
    level2 = KafkaRouter(prefix="b.", routers=[level3])
    broker = KafkaBroker(bootstrap, routers=[KafkaRouter(prefix=f"a{t}.", routers=[level2])])
    async with broker:
        await broker.start()
        await broker.publish("x", f"a{t}.b.c.d.t")
        await eventually(lambda: got == [f"a{t}.b.c.d.t"])


def test_composition_errors() -> None:
    router = KafkaRouter()
    with pytest.raises(SetupError, match="cannot include itself"):
        router.include_router(router)
    other = KafkaRouter(routers=[router])
    router.include_router(other)
    broker = KafkaBroker(routers=[router])
    with pytest.raises(SetupError, match="loops back"):
        broker.resolve()
