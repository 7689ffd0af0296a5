"""A start fails fast when Kafka is unreachable, or waits for it when asked to.

The cluster that "comes up" during a wait is the real Kafka behind a small TCP
proxy that begins to listen only after a delay: the client bootstraps through
the proxy, then talks to the brokers it advertises.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from topicflow import App, KafkaAuthenticationError, SetupError
from topicflow.kafka import KafkaBroker
from topicflow.security import SASLPlaintext


def _free_port() -> int:
    """A port nothing listens on (a connection to it is refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@contextlib.asynccontextmanager
async def _listening_later(target: str, delay: float) -> AsyncIterator[int]:
    """A port that refuses connections for ``delay`` seconds, then forwards each one
    to ``target`` (host:port)."""
    port = _free_port()
    host, _, target_port = target.partition(":")
    pipes: set[asyncio.Task[None]] = set()

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            with contextlib.suppress(OSError):
                while data := await reader.read(65536):
                    writer.write(data)
                    await writer.drain()
        finally:  # cancelled too: an unclosed socket warns later, in another test
            writer.close()

    async def forward(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection(host, int(target_port))
        for task in (pipe(reader, upstream_writer), pipe(upstream_reader, writer)):
            pipes.add(asyncio.ensure_future(task))

    async def open_later() -> asyncio.Server:
        await asyncio.sleep(delay)
        return await asyncio.start_server(forward, "127.0.0.1", port)

    opening = asyncio.ensure_future(open_later())
    try:
        yield port
    finally:
        opening.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            server = await opening
            server.close()
            await server.wait_closed()
        for task in pipes:
            task.cancel()
        await asyncio.gather(*pipes, return_exceptions=True)


def _service(tmp_path: Path, bootstrap: str, topic: str = "unused", group: str = "g") -> None:
    (tmp_path / "service.py").write_text(
        textwrap.dedent(
            f"""
            from topicflow import App
            from topicflow.kafka import KafkaBroker

            broker = KafkaBroker({bootstrap!r}, request_timeout_ms=2000)
            app = App(broker)

            @broker.subscriber({topic!r}, group_id={group!r}, auto_offset_reset="earliest")
            async def handle(n: int) -> None:
                print("handled", n, flush=True)

            @app.after_startup
            async def ready() -> None:
                await broker.publish(1, {topic!r})
            """
        )
    )


def _command(tmp_path: Path, *options: str) -> list[str]:
    run = ["run", "service:app", "--app-dir", str(tmp_path), *options]
    return [sys.executable, "-m", "topicflow", *run]


def test_without_waiting_an_unreachable_broker_fails_at_once(tmp_path: Path) -> None:
    port = _free_port()
    _service(tmp_path, f"127.0.0.1:{port}")
    started = time.monotonic()
    done = subprocess.run(_command(tmp_path), capture_output=True, text=True, timeout=30)
    assert done.returncode == 1
    assert time.monotonic() - started < 10  # 2 s request timeout, plus Python's start
    assert "waiting for Kafka" not in done.stderr
    assert f"Error: KafkaUnavailableError: cannot reach Kafka at 127.0.0.1:{port}" in done.stderr


def test_waiting_for_an_unreachable_broker_logs_and_then_exits_1(tmp_path: Path) -> None:
    port = _free_port()
    _service(tmp_path, f"127.0.0.1:{port}")
    started = time.monotonic()
    done = subprocess.run(
        _command(tmp_path, "--wait-for-broker", "3"), capture_output=True, text=True, timeout=30
    )
    took = time.monotonic() - started
    assert done.returncode == 1, done.stderr
    assert 3 <= took < 10, took
    waiting = [line for line in done.stderr.splitlines() if "waiting for Kafka at" in line]
    assert waiting, done.stderr
    assert f"waiting for Kafka at 127.0.0.1:{port} (0 s of 3 s): " in waiting[0]
    assert "Unable to bootstrap" in waiting[0]  # the client's reason
    [error] = [line for line in done.stderr.splitlines() if line.startswith("Error:")]
    assert f"KafkaUnavailableError: cannot reach Kafka at 127.0.0.1:{port}" in error
    assert "Traceback" not in done.stderr


@pytest.mark.kafka
async def test_a_broker_that_comes_up_during_the_wait_is_used(
    bootstrap: str, topic: str, group: str, tmp_path: Path
) -> None:
    async with _listening_later(bootstrap.split(",")[0], delay=2.0) as port:
        _service(tmp_path, f"127.0.0.1:{port}", topic, group)
        proc = await asyncio.create_subprocess_exec(
            *_command(tmp_path, "--wait-for-broker", "30"),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        assert proc.stdout is not None
        lines: list[str] = []
        try:
            async with asyncio.timeout(60):
                while not lines or not lines[-1].startswith("handled 1"):
                    line = (await proc.stdout.readline()).decode()
                    assert line, "".join(lines)  # the service exited
                    lines.append(line)
            proc.send_signal(signal.SIGTERM)
            rest, _ = await asyncio.wait_for(proc.communicate(), 30)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    out = "".join(lines) + rest.decode()
    assert proc.returncode == 0, out
    assert f"waiting for Kafka at 127.0.0.1:{port} (0 s of 30 s)" in out
    assert f"Kafka at 127.0.0.1:{port} answered after" in out


@pytest.mark.kafka
async def test_the_app_option_waits_in_process(
    bootstrap: str, topic: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="topicflow")
    async with _listening_later(bootstrap.split(",")[0], delay=1.5) as port:
        broker = KafkaBroker(f"127.0.0.1:{port}", request_timeout_ms=2000)
        app = App(broker, wait_for_broker=30)
        await app.start()
        try:
            assert (await broker.publish(1, topic)).offset == 0
        finally:
            await app.stop()
    waited = [r for r in caplog.records if r.getMessage().startswith("waiting for Kafka")]
    assert waited
    assert {r.levelname for r in waited} == {"WARNING"}


def test_a_signal_during_the_wait_stops_at_once(tmp_path: Path) -> None:
    _service(tmp_path, f"127.0.0.1:{_free_port()}")
    with subprocess.Popen(
        _command(tmp_path, "--wait-for-broker", "120"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as proc:
        assert proc.stdout is not None
        lines = []
        while line := proc.stdout.readline():
            lines.append(line)
            if "waiting for Kafka at" in line:
                break
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        rest, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, "".join(lines) + rest
    assert time.monotonic() - sent < 10
    assert "stopping before it started" in rest


async def test_refused_credentials_are_not_waited_for() -> None:
    servers = os.environ.get("KAFKA_SASL_BOOTSTRAP")
    if not servers:
        pytest.skip("no SASL listener: ./scripts/test starts one (scripts/kafka start --secure)")
    broker = KafkaBroker(servers, security=SASLPlaintext("admin", "wrong"), request_timeout_ms=5000)
    started = time.monotonic()
    with pytest.raises(KafkaAuthenticationError):
        await App(broker, wait_for_broker=60).start()
    await broker.stop()
    assert time.monotonic() - started < 30


def test_a_negative_wait_is_a_setup_error() -> None:
    with pytest.raises(SetupError, match="wait_for_broker"):
        App(KafkaBroker("127.0.0.1:9092"), wait_for_broker=-1)
