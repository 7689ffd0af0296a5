"""A broker that cannot be reached fails fast, naming the address; it never hangs."""

from __future__ import annotations

import asyncio
import time

import pytest

from topicflow import KafkaUnavailableError, SetupError
from topicflow.kafka import KafkaBroker


async def test_refused_connection_names_the_address() -> None:
    broker = KafkaBroker("127.0.0.1:1", request_timeout_ms=3000)
    started = time.monotonic()
    with pytest.raises(KafkaUnavailableError, match=r"127\.0\.0\.1:1") as info:
        await broker.start()
    assert time.monotonic() - started < 3.5
    assert "scripts/kafka start" in str(info.value)  # it says what to do
    assert info.value.bootstrap_servers == "127.0.0.1:1"


async def test_silent_server_fails_within_request_timeout() -> None:
    """A peer that accepts TCP but never answers must not hang start()."""
    accepted: list[asyncio.StreamWriter] = []

    async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)

    server = await asyncio.start_server(swallow, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    broker = KafkaBroker(f"127.0.0.1:{port}", request_timeout_ms=1500)
    started = time.monotonic()
    async with server:
        with pytest.raises(KafkaUnavailableError, match=f"127.0.0.1:{port}"):
            await broker.start()
    assert time.monotonic() - started < 3.0
    assert accepted  # it really tried
    for writer in accepted:
        writer.close()


async def test_publishing_before_connecting_says_what_to_do() -> None:
    broker = KafkaBroker("127.0.0.1:1")
    with pytest.raises(SetupError, match="not connected"):
        await broker.publish("x", "t")


def test_configuration_errors_are_setup_errors() -> None:
    with pytest.raises(SetupError, match="bootstrap_servers"):
        KafkaBroker([])
    with pytest.raises(SetupError, match="graceful_timeout"):
        KafkaBroker(graceful_timeout=0)
