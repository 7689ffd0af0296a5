# examples/middlewares.py
"""Middlewares: one that stamps every publish, one that times every message."""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

from topicflow import App, BaseMiddleware
from topicflow.kafka import KafkaBroker, KafkaMessage, PublishCommand

TIMINGS: list[tuple[str, float]] = []


class Stamp(BaseMiddleware):
    """Adds the service's name to the headers of everything it publishes."""

    async def publish_scope(
        self, call_next: Callable[[PublishCommand], Awaitable[Any]], cmd: PublishCommand
    ) -> Any:
        cmd.headers = {**cmd.headers, "x-service": "greeter"}
        return await call_next(cmd)


class Timer(BaseMiddleware):
    """Records how long each message took, also when the handler failed."""

    async def consume_scope(
        self, call_next: Callable[[KafkaMessage], Awaitable[Any]], msg: KafkaMessage
    ) -> Any:
        started = time.perf_counter()
        try:
            return await call_next(msg)
        finally:
            TIMINGS.append((msg.message_id, time.perf_counter() - started))


broker = KafkaBroker(
    os.environ.get("KAFKA_BOOTSTRAP", "127.0.0.1:9092"), middlewares=[Stamp, Timer]
)
app = App(broker)


@broker.subscriber("names", group_id="greeter", auto_offset_reset="earliest")
@broker.publisher("greetings")
async def greet(name: str) -> str:
    return f"Hello, {name}!"
