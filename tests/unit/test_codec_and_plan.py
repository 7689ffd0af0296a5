"""Wire format and handler plans, without Kafka."""

from __future__ import annotations

import dataclasses
import inspect
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from pydantic import BaseModel

from topicflow import App, Context, DecodeError, Depends, SetupError, TestApp
from topicflow._codec import decode_body, encode_body, encode_key
from topicflow._context import ContextRepo
from topicflow._di import compile_batch_handler, compile_handler
from topicflow.kafka import ConsumerRecord, KafkaBroker, KafkaMessage, TestKafkaBroker


class Item(BaseModel):
    name: str
    price: float


@dataclasses.dataclass
class Pair:
    a: int
    b: int


def record(value: bytes | None, content_type: str | None = None, **extra: bytes) -> Any:
    headers = [("content-type", content_type.encode())] if content_type else []
    headers += list(extra.items())
    return ConsumerRecord(
        topic="t",
        partition=0,
        offset=7,
        timestamp=0,
        timestamp_type=0,
        key=None,
        value=value,
        checksum=None,
        serialized_key_size=0,
        serialized_value_size=len(value or b""),
        headers=tuple(headers),
    )


@pytest.mark.parametrize(
    ("body", "wire", "content_type"),
    [
        (b"\x00raw", b"\x00raw", None),
        ("héllo", "héllo".encode(), "text/plain"),
        (Item(name="x", price=1.5), b'{"name":"x","price":1.5}', "application/json"),
        (Pair(1, 2), b'{"a":1,"b":2}', "application/json"),
        ({"k": [1]}, b'{"k":[1]}', "application/json"),
        (3, b"3", "application/json"),
        (None, None, None),
    ],
)
def test_encode_body(body: Any, wire: bytes | None, content_type: str | None) -> None:
    assert encode_body(body) == (wire, content_type)


def test_decode_body_follows_the_content_type() -> None:
    assert decode_body(b'{"a":1}', "application/json") == {"a": 1}
    assert decode_body(b"text", "text/plain; charset=utf-8") == "text"
    assert decode_body(b"\x01", None) == b"\x01"
    assert decode_body(None, None) is None


def test_keys() -> None:
    assert encode_key("k") == b"k"
    assert encode_key(b"k") == b"k"
    assert encode_key(12) == b"12"
    assert encode_key(None) is None


async def test_single_model_parameter_is_validated_from_bytes() -> None:
    async def handler(item: Item) -> Item:
        return item

    plan = compile_handler(handler)
    got = await plan.call(KafkaMessage(record(b'{"name":"a","price":"2"}', "application/json")))
    assert got == Item(name="a", price=2.0)
    # No content type (a plain producer's JSON) still validates as JSON.
    assert await plan.call(KafkaMessage(record(b'{"name":"b","price":1}'))) == Item(
        name="b", price=1
    )


async def test_several_body_parameters_take_the_fields_of_an_object() -> None:
    async def handler(name: str, price: float, msg: KafkaMessage) -> tuple[str, float, int]:
        return name, price, msg.offset

    plan = compile_handler(handler)
    got = await plan.call(KafkaMessage(record(b'{"name":"a","price":3}', "application/json")))
    assert got == ("a", 3.0, 7)


async def test_sync_handlers_are_called_too() -> None:
    def handler(n: int) -> int:
        return n + 1

    assert await compile_handler(handler).call(KafkaMessage(record(b"41"))) == 42


@pytest.mark.parametrize(
    ("annotation", "value", "content_type"),
    [
        (Item, b'{"name":"a"}', "application/json"),  # missing field
        (Item, b"{not json", "application/json"),  # broken JSON
        (str, b"\xff\xfe", None),  # invalid UTF-8
        (int, b"seven", "text/plain"),
    ],
)
async def test_bad_bodies_raise_decode_error_naming_the_record(
    annotation: Any, value: bytes, content_type: str | None
) -> None:
    called = False

    async def handler(body: Any) -> None:
        nonlocal called
        called = True

    handler.__annotations__ = {"body": annotation, "return": None}
    plan = compile_handler(handler)
    with pytest.raises(DecodeError, match=r"topic=t partition=0 offset=7"):
        await plan.call(KafkaMessage(record(value, content_type)))
    assert not called


async def test_handler_errors_are_not_decode_errors() -> None:
    async def handler(n: int) -> None:
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        await compile_handler(handler).call(KafkaMessage(record(b"1")))


def test_unreadable_annotations_fail_at_registration() -> None:
    async def handler(x: NotDefinedAnywhere) -> None:  # type: ignore[name-defined]  # noqa: F821
        pass

    with pytest.raises(SetupError, match="annotations"):
        compile_handler(handler)


def test_message_fields_are_read_lazily_and_correctly() -> None:
    msg = KafkaMessage(record(b"x", "text/plain", correlation_id=b"c1", reply_to=b"r"))
    assert (msg.topic, msg.partition, msg.offset) == ("t", 0, 7)
    assert msg.correlation_id == "c1"
    assert msg.reply_to == "r"
    assert msg.content_type == "text/plain"
    assert msg.message_id == "t-0-7"
    anonymous = KafkaMessage(record(b"x"))
    assert anonymous.correlation_id == anonymous.correlation_id  # generated once
    assert anonymous.reply_to == ""


@pytest.mark.parametrize("item", [Item, bytes, int, Pair, dict[str, int], Any, str])
def test_batch_bodies_read_from_records_equal_those_read_from_messages(item: Any) -> None:
    async def handle(items: Any) -> None:
        return None

    handle.__annotations__ = {"items": list[item], "return": None}  # a type known at run time
    plan = compile_batch_handler(handle)
    records = [
        record(b'{"name":"x","price":1.5,"a":1,"b":2}', "application/json"),
        record(b'{"name":"y","price":2,"a":3,"b":4}'),
        record(b"7", "text/plain"),
        record(b"8", "application/json", other=b"v"),
    ]
    expected: list[Any] = []
    for one in records:
        try:
            expected.append(plan.extract(KafkaMessage(one)))
        except DecodeError:
            expected.append(DecodeError)
    if plan.extract_records is None:
        assert item in (Any, str)  # these take the message path
        return
    if DecodeError in expected:
        with pytest.raises(ValueError, match=r"\w"):  # the subscriber then goes one by one
            plan.extract_records(records)
        fitting = [r for r, e in zip(records, expected, strict=True) if e is not DecodeError]
        assert plan.extract_records(fitting) == [e for e in expected if e is not DecodeError]
    else:
        assert plan.extract_records(records) == expected


async def test_the_fast_path_returns_the_handlers_own_coroutine() -> None:
    async def handler(item: Item) -> str:
        return item.name

    call = compile_handler(handler).bind()
    assert not inspect.iscoroutinefunction(call)  # no coroutine of ours per message
    coroutine = call(KafkaMessage(record(b'{"name":"a","price":1}')))
    assert inspect.iscoroutine(coroutine)
    assert coroutine.cr_code is handler.__code__
    assert await coroutine == "a"


async def test_bind_keeps_the_context_in_the_call_not_in_the_plan() -> None:
    async def handler(n: int, tenant: str = Context("tenant")) -> tuple[int, str]:
        return n, tenant

    plan = compile_handler(handler)
    assert not any(isinstance(getattr(plan, f.name), list | dict) for f in dataclasses.fields(plan))
    first, second = ContextRepo(), ContextRepo()
    first.set_global("tenant", "acme")
    second.set_global("tenant", "globex")
    call_first = plan.bind(context=first)
    call_second = plan.bind(context=second)  # a router included twice: two brokers
    assert await call_first(KafkaMessage(record(b"1"))) == (1, "acme")
    assert await call_second(KafkaMessage(record(b"2"))) == (2, "globex")


async def test_a_context_value_missing_at_message_time_is_a_lookup_error() -> None:
    async def handler(n: int, tenant: str = Context("tenant")) -> str:
        return tenant

    repo = ContextRepo()
    call = compile_handler(handler).bind(context=repo)  # set later: no error at start
    with pytest.raises(
        LookupError, match=re.escape("broker.context.set_global('tenant', value)")
    ) as info:
        await call(KafkaMessage(record(b"1")))
    assert not isinstance(info.value, SetupError)  # a failing message, not a configuration
    assert "default=" in str(info.value)
    assert "topic=t partition=0 offset=7" in str(info.value)
    repo.set_global("tenant", "acme")  # values are looked up per message
    assert await call(KafkaMessage(record(b"1"))) == "acme"
    repo.reset_global("tenant")
    with pytest.raises(LookupError, match="tenant"):
        await call(KafkaMessage(record(b"1")))


@pytest.mark.parametrize(
    ("name", "reason"),
    [("message.nope", "the message has no 'nope'"), ("settings.nope", "'settings' has no 'nope'")],
)
async def test_a_dotted_context_name_that_finds_nothing_is_a_lookup_error(
    name: str, reason: str
) -> None:
    async def handler(value: Any = Context(name)) -> Any:
        return value

    async def with_default(value: Any = Context(name, default="fallback")) -> Any:
        return value

    repo = ContextRepo()
    repo.set_global("settings", {"debug": True})
    with pytest.raises(LookupError, match=re.escape(reason)):
        await compile_handler(handler).bind(context=repo)(KafkaMessage(record(b"1")))
    got = await compile_handler(with_default).bind(context=repo)(KafkaMessage(record(b"1")))
    assert got == "fallback"


@pytest.mark.parametrize("asynchronous", [False, True])
async def test_a_dependency_that_yields_twice_is_a_runtime_error(asynchronous: bool) -> None:
    events: list[str] = []

    def twice() -> Iterator[int]:
        try:
            yield 1
            events.append("after first yield")
            yield 2
        finally:
            events.append("closed")

    async def twice_async() -> AsyncIterator[int]:
        try:
            yield 1
            events.append("after first yield")
            yield 2
        finally:
            events.append("closed")

    async def handler(value: int = Depends(twice_async if asynchronous else twice)) -> None:
        events.append(f"handler {value}")

    with pytest.raises(RuntimeError, match="yielded a second time") as info:
        await compile_handler(handler).call(KafkaMessage(record(b"1")))
    assert not isinstance(info.value, SetupError)
    assert "yields exactly once" in str(info.value)
    assert events == ["handler 1", "after first yield", "closed"]


async def test_a_generator_dependency_that_never_yields_is_a_runtime_error() -> None:
    def never() -> Iterator[int]:
        return
        yield  # a generator all the same

    async def handler(value: int = Depends(never)) -> None:
        raise AssertionError("not called")

    with pytest.raises(RuntimeError, match="returned without yielding"):
        await compile_handler(handler).call(KafkaMessage(record(b"1")))


async def test_a_custom_decoder_runs_once_before_the_dependencies() -> None:
    events: list[str] = []

    async def decoder(msg: KafkaMessage) -> Any:
        events.append("decode")
        return {"name": msg.body.decode(), "price": 1}

    def audit() -> None:  # reads no body, runs after the decoder all the same
        events.append("audit")

    def priced(price: float) -> float:  # a field of the decoded body
        events.append("priced")
        return price * 2

    async def handler(item: Item, doubled: float = Depends(priced)) -> tuple[Item, float]:
        return item, doubled

    call = compile_handler(handler).bind(decoder=decoder, dependencies=[audit, priced])
    got = await call(KafkaMessage(record(b"pen")))
    assert got == (Item(name="pen", price=1), 2.0)
    assert events == ["decode", "audit", "priced"]  # priced cached: once for both uses


async def test_a_global_set_by_an_on_startup_hook_after_the_broker_started_is_found() -> None:
    broker = KafkaBroker("memory:9092")
    app = App(broker)
    got: list[str] = []

    @app.on_startup
    def connect() -> None:
        broker.context.set_global("db", "connection")

    @broker.subscriber("orders")
    async def handle(body: str, db: str = Context("db")) -> None:
        got.append(f"{body} via {db}")

    # The broker starts (and binds its handlers) before the app's hooks run.
    async with TestKafkaBroker(broker) as br, TestApp(app):
        await br.publish("order", "orders")
    assert got == ["order via connection"]
