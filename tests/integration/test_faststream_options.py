"""FastStream's KafkaBroker options against the real Kafka."""

from __future__ import annotations

import threading

import pytest

from tests.helpers import eventually
from topicflow import App, SetupError, TestApp
from topicflow.kafka import KafkaBroker

pytestmark = pytest.mark.kafka


async def test_a_consumer_only_broker_consumes_without_a_producer(
    bootstrap: str, topic: str, group: str
) -> None:
    sender = KafkaBroker(bootstrap)
    broker = KafkaBroker(bootstrap, consumer_only=True, client_rack="rack-1")
    got: list[str] = []

    @broker.subscriber(topic, group_id=group, auto_offset_reset="earliest")
    async def handle(body: str) -> None:
        got.append(body)

    async with sender, broker:
        await sender.publish("hi", topic)
        await broker.start()
        await eventually(lambda: got == ["hi"])
        assert await broker.ping(5)
        with pytest.raises(SetupError, match="consumer_only=True"):
            await broker.publish("x", topic)


def test_a_sync_test_app_runs_the_app_on_a_loop_of_its_own(
    bootstrap: str, topic: str, group: str
) -> None:
    broker = KafkaBroker(bootstrap)
    app = App(broker, logger=None)
    events: list[str] = []
    handled = threading.Event()

    @app.on_startup
    async def configure(env: str = "prod") -> None:
        events.append(f"startup {env}")

    @app.after_startup
    async def announce() -> None:
        await broker.publish("hello", topic)

    @app.after_shutdown
    async def goodbye() -> None:
        events.append("shutdown")

    @broker.subscriber(topic, group_id=group, auto_offset_reset="earliest")
    async def handle(body: str) -> None:
        events.append(f"got {body}")
        handled.set()

    with TestApp(app, run_extra_options={"env": "test"}) as running:  # a plain with
        assert running is app
        assert handled.wait(30)
    assert events == ["startup test", "got hello", "shutdown"]
    assert not [t for t in threading.enumerate() if t.name == "topicflow TestApp"]
