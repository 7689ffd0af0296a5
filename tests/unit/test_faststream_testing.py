"""FastStream's documented testing examples, ported in spirit with only the import
prefix changed: the decorated handler's call wrapper, exceptions raised into the
test's publish, ``TestKafkaBroker``'s arguments, publishers' mocks and ``TestApp``."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import pytest
from pydantic import BaseModel, ValidationError

from topicflow import App, Header, TestApp
from topicflow.exceptions import NackMessage, SetupError
from topicflow.kafka import KafkaBroker, TestKafkaBroker

pytestmark = pytest.mark.timeout(10)

ADDRESS = "memory-faststream-testing:9092"


class Data(BaseModel):
    name: str
    user_id: int


def _service() -> tuple[KafkaBroker, Any]:
    broker = KafkaBroker(ADDRESS)

    @broker.subscriber("test-topic")
    async def handle(name: str, user_id: int) -> str:
        assert name == "John"
        return f"{name}-{user_id}"

    return broker, handle


# -- the handler's call wrapper ------------------------------------------------------


async def test_the_handler_is_still_a_plain_function() -> None:
    _broker, handle = _service()
    # FastStream's wrapper calls the function as written: no validation, no injection.
    assert await handle("John", 1) == "John-1"
    assert await handle(name="John", user_id="1") == "John-1"  # not cast to int
    assert handle.__name__ == "handle"


async def test_handle_mock_records_bodies_and_leaves_with_the_test_broker() -> None:
    broker, handle = _service()
    async with TestKafkaBroker(broker) as br:
        await br.publish({"name": "John", "user_id": 1}, topic="test-topic")
        handle.mock.assert_called_once_with({"name": "John", "user_id": 1})
    with pytest.raises(SetupError):  # the mock leaves with the test broker
        handle.mock.assert_not_called()
    async with TestKafkaBroker(broker):
        handle.mock.assert_not_called()  # a fresh mock for each test broker


async def test_a_validation_error_is_raised_into_the_publish() -> None:
    broker, handle = _service()
    async with TestKafkaBroker(broker) as br:
        with pytest.raises(ValidationError):
            await br.publish("wrong message", topic="test-topic")
        handle.mock.assert_called_once_with("wrong message")


async def test_wait_call_and_a_handler_error() -> None:
    broker = KafkaBroker(ADDRESS)

    @broker.subscriber("t")
    async def handle(n: int) -> None:
        if n < 0:
            raise ValueError("negative")

    async with TestKafkaBroker(broker) as br:
        waiting = asyncio.ensure_future(handle.wait_call(timeout=3))
        await asyncio.sleep(0)
        assert not waiting.done()
        await br.publish(1, "t", no_confirm=True)
        assert await waiting is None
        await handle.wait_call(timeout=3)  # called already: at once
        with pytest.raises(ValueError, match="negative"):
            await br.publish(-1, "t")
        with pytest.raises(ValueError, match="negative"):  # the latest call raised
            await handle.wait_call(timeout=3)


async def test_wait_call_times_out() -> None:
    broker, handle = _service()
    async with TestKafkaBroker(broker):
        with pytest.raises(TimeoutError):
            await handle.wait_call(timeout=0.05)


async def test_assert_called_once_with_headers_models_and_context() -> None:
    broker = KafkaBroker(ADDRESS)

    @broker.subscriber("test-topic")
    async def handle(data: Data, trace_id: Annotated[str, Header("trace-id")]) -> None:
        assert trace_id == "42"

    async with TestKafkaBroker(broker) as br:
        await br.publish(
            Data(name="John", user_id=1),
            topic="test-topic",
            headers={"trace-id": "42"},
            key=b"user-1",
        )
        await handle.assert_called_once_with(
            {"name": "John", "user_id": 1}, headers={"trace-id": "42"}
        )
        await handle.assert_called_once_with(Data(name="John", user_id=1), key=b"user-1")
        await handle.assert_called_with(context={"message.raw_message.key": b"user-1"})
        await handle.assert_any_call(partition=0, content_type="application/json")
        with pytest.raises(AssertionError, match="headers"):
            await handle.assert_called_once_with(headers={"trace-id": "43"})


async def test_stacked_decorators_share_one_wrapper() -> None:
    broker = KafkaBroker(ADDRESS)
    out = broker.publisher("out")

    @out
    @broker.subscriber("a")
    @broker.subscriber("b")
    async def handle(n: int) -> int:
        return n + 1

    async with TestKafkaBroker(broker) as br:
        await br.publish(1, "a")
        await br.publish(2, "b")
        assert [c.args for c in handle.mock.call_args_list] == [(1,), (2,)]
        # The publisher above the subscribers still gets the handler's results.
        assert [c.args for c in out.mock.call_args_list] == [(2,), (3,)]


# -- exceptions out of publish and request ------------------------------------------


async def test_an_error_deep_in_a_chain_is_raised_into_the_outer_publish() -> None:
    broker = KafkaBroker(ADDRESS)

    @broker.subscriber("first")
    @broker.publisher("second")
    async def first(n: int) -> int:
        return n

    @broker.subscriber("second")
    async def second(n: int) -> None:
        raise KeyError(n)

    async with TestKafkaBroker(broker) as br:
        with pytest.raises(KeyError):
            await br.publish(1, "first")
        first.mock.assert_called_once_with(1)
        second.mock.assert_called_once_with(1)


async def test_request_raises_the_handlers_error() -> None:
    broker = KafkaBroker(ADDRESS)

    @broker.subscriber("rpc")
    async def rpc(n: int) -> int:
        if n == 0:
            raise ZeroDivisionError("zero")
        return 10 // n

    async with TestKafkaBroker(broker) as br:
        reply = await br.request(2, "rpc", timeout=3)
        assert await reply.decode() == 5
        with pytest.raises(ZeroDivisionError):
            await br.request(0, "rpc", timeout=3)


async def test_steering_exceptions_are_decisions_not_errors() -> None:
    broker = KafkaBroker(ADDRESS)
    sub = broker.subscriber("t", group_id="g", auto_offset_reset="earliest")

    @sub
    async def handle(n: int) -> None:
        if handle.mock.call_count == 0:
            raise NackMessage()

    async with TestKafkaBroker(broker) as br:
        await br.publish(1, "t")  # nacked: not raised; delivered again after a backoff
        await handle.wait_call(timeout=3)  # nor raised here
        assert await sub.wait_call(3) == 1  # type: ignore[attr-defined]
        assert await sub.wait_call(3) == 1  # type: ignore[attr-defined]  # the redelivery


# -- TestKafkaBroker's arguments ----------------------------------------------------


async def test_several_brokers_enter_together() -> None:
    front, back = KafkaBroker(ADDRESS), KafkaBroker(ADDRESS)

    @front.subscriber("in")
    @front.publisher("work")
    async def accept(n: int) -> int:
        return n * 2

    @back.subscriber("work")
    async def work(n: int) -> None: ...

    async with TestKafkaBroker(front, back) as (f, b):
        assert (f, b) == (front, back)
        await f.publish(2, "in")
        work.mock.assert_called_once_with(4)


async def test_connect_only_starts_no_subscriber() -> None:
    broker = KafkaBroker(ADDRESS)
    out = broker.publisher("out")

    @broker.subscriber("test-topic", auto_offset_reset="earliest")
    async def handle(name: str, user_id: int) -> None: ...

    async with TestKafkaBroker(broker, connect_only=True) as br:
        assert br.connected
        await br.publish({"name": "John", "user_id": 1}, "test-topic")
        await out.publish("x")
        out.mock.assert_called_once_with("x")
        await br.start()
        await handle.wait_call(timeout=3)  # it reads from the earliest offset
        handle.mock.assert_called_once_with({"name": "John", "user_id": 1})


# -- publishers ---------------------------------------------------------------------


async def test_publisher_mock_records_what_was_published() -> None:
    broker = KafkaBroker(ADDRESS)
    to_out = broker.publisher("output_data")

    @broker.subscriber("input_data")
    @to_out
    async def on_input_data(msg: dict[str, Any]) -> dict[str, Any]:
        return {"data": msg["data"] + 1.0}

    async with TestKafkaBroker(broker) as br:
        await br.publish({"data": 0.2}, "input_data")
        on_input_data.mock.assert_called_once_with({"data": 0.2})
        to_out.mock.assert_called_once_with({"data": 1.2})
        await to_out.assert_called_once_with({"data": 1.2})


# -- TestApp ------------------------------------------------------------------------


async def test_test_app_with_the_test_broker() -> None:
    broker = KafkaBroker(ADDRESS)
    app = App(broker)

    @app.after_startup
    async def hello() -> None:
        await broker.publish("Hi!", "greetings")

    @broker.subscriber("greetings", auto_offset_reset="earliest")
    async def greet(text: str) -> None: ...

    async with TestKafkaBroker(broker), TestApp(app):
        await greet.wait_call(timeout=3)
        greet.mock.assert_called_once_with("Hi!")


def test_test_app_is_importable_where_faststream_users_look() -> None:
    from topicflow.kafka import TestApp as KafkaTestApp

    assert KafkaTestApp is TestApp
    app = App(KafkaBroker(ADDRESS))
    assert TestApp(app, run_extra_options={"env": "test"}).app is app


# -- with_real=True -----------------------------------------------------------------


@pytest.mark.kafka
@pytest.mark.timeout(60)
async def test_the_real_testing_example_on_kafka(bootstrap: str, topic: str) -> None:
    broker = KafkaBroker(bootstrap)

    @broker.subscriber(topic, auto_offset_reset="earliest")
    async def handle(name: str, user_id: int) -> None: ...

    async with TestKafkaBroker(broker, with_real=True) as br:
        await br.publish({"name": "John", "user_id": 1}, topic=topic)
        await handle.wait_call(timeout=10)
        handle.mock.assert_called_once_with({"name": "John", "user_id": 1})
        with pytest.raises(ValidationError):
            await br.publish("wrong message", topic=topic)
        with pytest.raises(ValidationError):  # FastStream raises it here
            await handle.wait_call(timeout=10)
    with pytest.raises(SetupError):  # the mock leaves with the test broker
        handle.mock.assert_not_called()
