"""TestKafkaBroker and TestApp on the in-memory Kafka: waiting publishes, mocks, sharing."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pydantic import ValidationError

from topicflow import App, SetupError, TestApp
from topicflow.kafka import KafkaBroker, KafkaMessage, Supervision, TestKafkaBroker
from topicflow.kafka._memory import partition_for_key
from topicflow.kafka._transport import TopicPartition

ADDRESS = "in-memory:9092"


async def test_publish_returns_once_the_handler_finished() -> None:
    broker = KafkaBroker(ADDRESS)
    done: list[int] = []

    @broker.subscriber("t")
    async def handle(n: int) -> None:
        await asyncio.sleep(0.02)
        done.append(n)

    async with TestKafkaBroker(broker) as br:
        for n in range(3):
            await br.publish(n, "t")
            assert done == list(range(n + 1))


async def test_a_chain_completes_before_the_outer_publish_returns() -> None:
    broker = KafkaBroker(ADDRESS)
    trace: list[str] = []
    final: list[int] = []

    @broker.subscriber("a")
    @broker.publisher("b")
    async def one(n: int) -> int:
        trace.append("a")
        return n + 1

    @broker.subscriber("b")
    async def two(n: int) -> None:
        # A publish made by a handler does not wait for its handlers: "c" has not
        # run when it returns, and waiting for it here would wait for ourselves.
        await broker.publish(n * 10, "c")
        trace.append(f"b:c-seen={bool(final)}")

    @broker.subscriber("c")
    async def three(n: int) -> None:
        await asyncio.sleep(0.02)
        final.append(n)

    async with TestKafkaBroker(broker) as br:
        await br.publish(1, "a")
        assert final == [20]
        assert trace == ["a", "b:c-seen=False"]


async def test_a_handler_publishing_to_its_own_topic_does_not_deadlock() -> None:
    broker = KafkaBroker(ADDRESS)
    seen: list[int] = []

    @broker.subscriber("loop")
    async def again(n: int) -> None:
        seen.append(n)
        if n < 5:
            await broker.publish(n + 1, "loop")

    async with TestKafkaBroker(broker) as br:
        await asyncio.wait_for(br.publish(1, "loop"), 5)
        assert seen == [1, 2, 3, 4, 5]


async def test_a_cycle_between_two_subscribers_completes() -> None:
    broker = KafkaBroker(ADDRESS)
    seen: list[str] = []

    @broker.subscriber("ping", group_id="p")
    @broker.publisher("pong")
    async def ping(n: int) -> int | None:
        seen.append(f"ping{n}")
        return n + 1 if n < 4 else None

    @broker.subscriber("pong", group_id="p")
    @broker.publisher("ping")
    async def pong(n: int) -> int:
        seen.append(f"pong{n}")
        return n + 1

    async with TestKafkaBroker(broker) as br:
        await asyncio.wait_for(br.publish(0, "ping"), 5)
        assert seen == ["ping0", "pong1", "ping2", "pong3", "ping4"]


async def test_no_confirm_returns_at_once_and_its_future_waits_for_handlers() -> None:
    broker = KafkaBroker(ADDRESS)
    release = asyncio.Event()

    @broker.subscriber("t")
    async def handle(n: int) -> None:
        await release.wait()

    async with TestKafkaBroker(broker) as br:
        future = await br.publish(1, "t", no_confirm=True)
        await asyncio.sleep(0.05)
        assert not future.done()
        release.set()
        meta = await asyncio.wait_for(future, 2)
        assert meta.offset == 0


async def test_handler_errors_are_raised_into_the_publish_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    broker = KafkaBroker(ADDRESS)

    @broker.subscriber("t")
    async def boom(n: int) -> None:
        raise RuntimeError("handler broke")

    caplog.set_level(logging.ERROR, logger="topicflow")
    async with TestKafkaBroker(broker) as br:
        with pytest.raises(RuntimeError, match="handler broke"):
            await br.publish(1, "t")
    [record] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert "t-0-0" in record.getMessage()  # the message id: topic, partition, offset
    assert "handler broke" in record.getMessage()


async def test_a_stopped_or_crashed_subscriber_is_not_waited_for(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # No restarts: the first crash gives the fetch task up.
    broker = KafkaBroker(ADDRESS, supervision=Supervision(max_restarts=0))
    stopped = broker.subscriber("a")
    stopped(_noop)
    # Nothing committed and auto_offset_reset="none": its fetch loop fails at once.
    broker.subscriber("b", group_id="g", auto_offset_reset="none")(_noop)

    caplog.set_level(logging.CRITICAL, logger="topicflow")
    async with TestKafkaBroker(broker) as br:
        await stopped.stop()
        await asyncio.wait_for(br.publish(1, "a"), 2)
        await asyncio.wait_for(br.publish(1, "b"), 2)
    assert any("crashed" in r.getMessage() for r in caplog.records)


async def test_a_subscriber_restarting_after_a_crash_is_not_waited_for(
    caplog: pytest.LogCaptureFixture,
) -> None:
    broker = KafkaBroker(ADDRESS)  # the default supervision: restarts with a backoff
    crashing = broker.subscriber("b", group_id="g", auto_offset_reset="none")
    crashing(_noop)

    caplog.set_level(logging.ERROR, logger="topicflow")
    async with TestKafkaBroker(broker) as br:
        await asyncio.wait_for(br.publish(1, "b"), 2)
        assert not crashing.healthy
        assert not await broker.ping(1)
    restarts = [r for r in caplog.records if "restarting it" in r.getMessage()]
    assert restarts
    assert all(r.levelno == logging.ERROR and repr(crashing) in r.getMessage() for r in restarts)


async def _noop(body: Any) -> None:
    return None


# -- mocks -------------------------------------------------------------------------


async def test_mocks_record_decoded_bodies_and_are_fresh_each_time() -> None:
    broker = KafkaBroker(ADDRESS)
    sub = broker.subscriber("in")
    out = broker.publisher("out")

    @sub
    @out
    async def handle(body: dict[str, int]) -> dict[str, int]:
        return {"n": body["n"] * 2}

    original_plan = sub.plan
    for n in (1, 2):
        async with TestKafkaBroker(broker) as br:
            await br.publish({"n": n}, "in")
            sub.mock.assert_called_once_with({"n": n})  # type: ignore[attr-defined]
            out.mock.assert_called_once_with({"n": n * 2})  # type: ignore[attr-defined]
    assert not hasattr(sub, "mock")
    assert not hasattr(sub, "wait_call")
    assert not hasattr(out, "mock")
    assert sub.plan is original_plan
    # Nothing of the test broker stays on the broker: its observer is gone.
    assert broker.observer is None
    assert not broker.connected


async def test_mocks_keep_failed_calls_and_only_the_handlers_keep_poison() -> None:
    broker = KafkaBroker(ADDRESS)
    sub = broker.subscriber("t")

    @sub
    async def handle(n: int) -> None:
        if n == 2:
            raise ValueError("two")

    async with TestKafkaBroker(broker) as br:
        with pytest.raises(ValidationError):
            await br.publish(b"not json", "t")
        await br.publish(1, "t")
        with pytest.raises(ValueError, match="two"):
            await br.publish(2, "t")
        assert [c.args for c in sub.mock.call_args_list] == [(1,), (2,)]  # type: ignore[attr-defined]
        # The handler's mock, as FastStream's: every body the handler was given.
        assert [c.args for c in handle.mock.call_args_list] == [(b"not json",), (1,), (2,)]


async def test_wait_call_returns_each_call_once_in_order() -> None:
    broker = KafkaBroker(ADDRESS)
    sub = broker.subscriber("t")
    sub(_noop)

    async with TestKafkaBroker(broker) as br:
        await br.publish("a", "t")
        await br.publish("b", "t")
        assert await sub.wait_call(1) == "a"  # type: ignore[attr-defined]
        assert await sub.wait_call(1) == "b"  # type: ignore[attr-defined]
        with pytest.raises(TimeoutError, match=r"no call #3 within 0\.05s"):
            await sub.wait_call(0.05)  # type: ignore[attr-defined]
        pending = asyncio.ensure_future(sub.wait_call(2))  # type: ignore[attr-defined]
        await br.publish("c", "t", no_confirm=True)
        assert await pending == "c"


# -- the cluster -------------------------------------------------------------------


async def test_partition_counts_and_committed_offsets() -> None:
    broker = KafkaBroker(ADDRESS)
    sub = broker.subscriber("orders", group_id="g", auto_offset_reset="earliest")
    sub(_noop)
    keys = [f"customer-{n}" for n in range(10)]

    tester = TestKafkaBroker(broker, partitions={"orders": 6})
    async with tester as br:
        for key in keys:
            meta = await br.publish(key, "orders", key=key)
            assert meta.partition == partition_for_key(key.encode(), 6)
        await br.stop()  # commits what finished
        committed = tester.committed_offsets("g")
        assert sum(committed.values()) == 10
        assert all(tp.topic == "orders" and 0 <= tp.partition < 6 for tp in committed)

        await br.start()  # a restart inside the block keeps the cluster and the group
        await br.publish("late", "orders", key="customer-0")
        assert [c.args for c in sub.mock.call_args_list][-1] == ("late",)  # type: ignore[attr-defined]
        assert sub.mock.call_count == 11  # type: ignore[attr-defined]

    with pytest.raises(SetupError, match="only inside"):
        tester.committed_offsets("g")


async def test_brokers_on_one_address_share_a_cluster() -> None:
    front, back = KafkaBroker(ADDRESS), KafkaBroker(ADDRESS)
    elsewhere = KafkaBroker("other:9092")
    got: list[str] = []

    @back.subscriber("jobs")
    async def work(job: str) -> None:
        await asyncio.sleep(0.02)
        got.append(job)

    @elsewhere.subscriber("jobs")
    async def never(job: str) -> None:
        got.append(f"elsewhere:{job}")

    async with TestKafkaBroker(back), TestKafkaBroker(elsewhere), TestKafkaBroker(front) as br:
        await br.publish("build", "jobs")
        assert got == ["build"]  # front's publish waited for back's handler


async def test_the_broker_must_not_be_connected_or_tested_twice() -> None:
    broker = KafkaBroker(ADDRESS)
    async with TestKafkaBroker(broker):
        with pytest.raises(SetupError, match="already under a TestKafkaBroker"):
            await TestKafkaBroker(broker).__aenter__()
    broker._transport = object()  # type: ignore[assignment]
    with pytest.raises(SetupError, match="connected already"):
        await TestKafkaBroker(broker).__aenter__()


async def test_message_fields_under_test() -> None:
    broker = KafkaBroker(ADDRESS)
    got: list[KafkaMessage] = []

    @broker.subscriber("t")
    async def handle(msg: KafkaMessage) -> None:
        got.append(msg)

    async with TestKafkaBroker(broker) as br:
        meta = await br.publish("x", "t", key="k", timestamp_ms=42, headers={"h": "v"})
    msg = got[0]
    assert (msg.topic, msg.partition, msg.offset) == ("t", meta.partition, meta.offset)
    assert msg.raw_message.timestamp == 42
    assert msg.key == b"k"
    assert msg.headers["h"] == "v"
    assert TopicPartition("t", msg.partition) == meta.topic_partition


def test_a_service_can_be_tested_again_in_a_new_event_loop() -> None:
    # A module-level service, and pytest-asyncio's default of one loop per test.
    broker = KafkaBroker(ADDRESS)
    broker.subscriber("t", group_id="g")(_noop)

    async def one_test() -> None:
        async with TestKafkaBroker(broker) as br:
            await br.publish("x", "t")

    asyncio.run(one_test())
    asyncio.run(one_test())


# -- TestApp -----------------------------------------------------------------------


async def test_test_app_runs_the_hooks_around_the_test() -> None:
    broker = KafkaBroker(ADDRESS)
    events: list[str] = []
    app = App(broker, logger=None)
    app.on_startup(lambda: events.append("on_startup"))
    app.after_startup(lambda: events.append("after_startup"))
    app.on_shutdown(lambda: events.append("on_shutdown"))
    app.after_shutdown(lambda: events.append("after_shutdown"))

    @broker.subscriber("t")
    async def handle(body: str) -> None:
        events.append(body)

    async with TestKafkaBroker(broker) as br, TestApp(app) as running:
        assert running is app
        await br.publish("message", "t")
    assert events == ["on_startup", "after_startup", "message", "on_shutdown", "after_shutdown"]


async def test_test_app_passes_run_options_to_the_lifespan_and_hooks() -> None:
    broker = KafkaBroker(ADDRESS)
    seen: list[tuple[str, int]] = []

    @contextlib.asynccontextmanager
    async def lifespan(workers: int) -> AsyncIterator[None]:
        seen.append(("lifespan", workers))
        yield

    app = App(broker, logger=None, lifespan=lifespan)

    @app.on_startup
    def configure(workers: int) -> None:
        seen.append(("on_startup", workers))

    async with TestKafkaBroker(broker), TestApp(app, run_extra_options={"workers": 3}):
        assert seen == [("lifespan", 3), ("on_startup", 3)]


async def test_test_app_leaves_the_lifespan_when_start_fails() -> None:
    broker = KafkaBroker(ADDRESS)
    seen: list[str] = []

    @contextlib.asynccontextmanager
    async def lifespan() -> AsyncIterator[None]:
        seen.append("enter")
        yield
        seen.append("exit")

    app = App(broker, logger=None, lifespan=lifespan)

    @app.on_startup
    def broken() -> None:
        raise RuntimeError("no config")

    async with TestKafkaBroker(broker):
        with pytest.raises(RuntimeError, match="no config"):
            async with TestApp(app):
                pass
    assert seen == ["enter", "exit"]


async def test_the_access_log_says_acked_for_a_handler_whose_result_is_published(
    caplog: pytest.LogCaptureFixture,
) -> None:
    broker = KafkaBroker(ADDRESS)

    @broker.subscriber("in", group_id="g")
    @broker.publisher("out")
    async def double(n: int) -> int:
        return n * 2

    caplog.set_level(logging.INFO, logger="topicflow")
    async with TestKafkaBroker(broker) as br:
        await br.publish(1, "in")
    access = [r.getMessage() for r in caplog.records if "group=g correlation_id=" in r.getMessage()]
    assert len(access) == 1
    assert access[0].startswith("in-0-0 group=g correlation_id=")
    assert access[0].endswith(": acked")
