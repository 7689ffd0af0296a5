"""topicflow.asgi: an app served over HTTP by a real uvicorn, called with httpx, a real
Kafka behind it."""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families
from reliability.clusters import LocalCluster

from tests.helpers import committed_offsets, eventually, read_all
from topicflow import App, Logger
from topicflow.asgi import (
    AsgiFastStream,
    AsgiResponse,
    AsyncAPIRoute,
    Header,
    Query,
    Request,
    get,
    make_asyncapi_asgi,
    make_metrics_asgi,
    make_ping_asgi,
    make_ready_asgi,
    post,
)
from topicflow.kafka import KafkaBroker
from topicflow.kafka.prometheus import KafkaPrometheusMiddleware

pytestmark = pytest.mark.kafka


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@asynccontextmanager
async def serving(app: AsgiFastStream, **options: Any) -> AsyncIterator[httpx.AsyncClient]:
    """Serve ``app`` with uvicorn on a free loopback port; yield a client of it."""
    port = free_port()
    running = asyncio.create_task(app.run(host="127.0.0.1", port=port, **options))
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:

        async def up() -> bool:
            if running.done():
                running.result()  # a failed start fails the test here
            try:
                await client.get("/__nothing__")
            except httpx.TransportError:
                return False
            return True

        await eventually(up, timeout=30)
        try:
            yield client
        finally:
            app.exit()
            await asyncio.wait_for(running, 30)


async def test_routes_handlers_and_the_broker_behind_them(
    bootstrap: str, topic: str, group: str
) -> None:
    broker = KafkaBroker(bootstrap)
    got: list[str] = []

    @broker.subscriber(topic, group_id=group, auto_offset_reset="earliest")
    async def handle(body: str) -> None:
        got.append(body)

    @get
    async def hello(
        name: str = Query("name", default="world"),
        agent: str = Header("user-agent", default="?"),
    ) -> AsgiResponse:
        return AsgiResponse(f"hello {name} ({agent})".encode())

    @post(description="Publish the request body to Kafka.")
    async def publish(request: Request, logger: Logger) -> AsgiResponse:
        body = await request.body()
        await broker.publish(body.decode(), topic)
        return AsgiResponse(b"", 202)

    app = AsgiFastStream(
        broker,
        asgi_routes=[
            ("/health", make_ping_asgi(broker, timeout=5)),
            ("/hello", hello),
            ("/publish", publish),
        ],
        asyncapi_path="/docs",
        logger=None,
    )
    async with serving(app) as client:
        assert (await client.get("/health")).status_code == 204
        response = await client.get("/hello?name=kafka", headers={"user-agent": "pytest"})
        assert (response.status_code, response.text) == (200, "hello kafka (pytest)")
        assert (await client.post("/publish", content=b"from http")).status_code == 202
        assert (await client.post("/hello")).status_code == 405
        assert (await client.get("/nowhere")).status_code == 404
        page = await client.get("/docs")
        assert page.status_code == 200
        assert topic in page.text
        document = (await client.get("/docs.json")).json()
        assert document["asyncapi"] == "3.0.0"
        await eventually(lambda: got == ["from http"])
    records = await read_all(bootstrap, topic, 1)
    assert [r.value for r in records] == [b"from http"]
    assert not await broker.ping(1)  # the lifespan stopped it


async def test_an_app_as_asgi_with_its_hooks_and_a_mounted_asgi_app(bootstrap: str) -> None:
    broker = KafkaBroker(bootstrap)
    app = App(broker, logger=None)
    events: list[str] = []

    @app.on_startup
    async def started() -> None:
        events.append("startup")

    @app.after_shutdown
    async def stopped() -> None:
        events.append("shutdown")

    async def raw_asgi(scope: Any, receive: Any, send: Any) -> None:
        body = f"{scope['root_path']}|{scope['path']}".encode()
        await AsgiResponse(body)(scope, receive, send)

    asgi = app.as_asgi(
        asgi_routes=[("/raw", raw_asgi), ("/docs", make_asyncapi_asgi(app))],
        asyncapi_path=AsyncAPIRoute("/asyncapi"),
    )
    async with serving(asgi) as client:
        assert events == ["startup"]
        assert (await client.get("/raw/a/b")).text == "/raw|/a/b"
        assert (await client.get("/docs")).status_code == 200
        assert (await client.get("/asyncapi.yaml")).text.startswith("asyncapi:")
    assert events == ["startup", "shutdown"]


async def test_ping_answers_500_when_the_broker_cannot_reach_its_cluster(bootstrap: str) -> None:
    broker = KafkaBroker(bootstrap)

    app = AsgiFastStream(
        broker, asgi_routes=[("/health", make_ping_asgi(broker, timeout=2))], logger=None
    )
    async with serving(app) as client:
        assert (await client.get("/health")).status_code == 204
        await broker.stop()  # as if the connection were gone
        assert (await client.get("/health")).status_code == 500


async def test_a_handler_error_is_a_500_and_a_missing_header_a_422(bootstrap: str) -> None:
    broker = KafkaBroker(bootstrap)

    @get
    async def broken() -> AsgiResponse:
        raise RuntimeError("boom")

    @get
    async def needs(token: str = Header("x-token")) -> AsgiResponse:
        return AsgiResponse(token.encode())

    app = AsgiFastStream(broker, asgi_routes=[("/broken", broken), ("/needs", needs)], logger=None)
    async with serving(app) as client:
        assert (await client.get("/broken")).status_code == 500
        assert (await client.get("/needs")).status_code == 422
        assert (await client.get("/needs", headers={"x-token": "t"})).text == "t"


ASGI_SERVICE = """
import asyncio, os
from topicflow.asgi import AsgiFastStream, make_ping_asgi
from topicflow.kafka import KafkaBroker

broker = KafkaBroker({bootstrap!r}, graceful_timeout=15)
app = AsgiFastStream(broker, asgi_routes=[("/health", make_ping_asgi(broker, timeout=5))])
events = open({events!r}, "a", buffering=1)

@broker.subscriber({topic!r}, group_id={group!r}, auto_offset_reset="earliest")
async def slow(n: int) -> None:
    events.write(f"start {{n}} {{os.getpid()}}\\n")
    await asyncio.sleep(1)
    events.write(f"done {{n}} {{os.getpid()}}\\n")
"""


def _write_service(tmp_path: Path, bootstrap: str, topic: str, group: str) -> Path:
    """svc.py in ``tmp_path`` (ASGI_SERVICE); returns the file its handler writes to."""
    events = tmp_path / "events.txt"
    (tmp_path / "svc.py").write_text(
        ASGI_SERVICE.format(bootstrap=bootstrap, events=str(events), topic=topic, group=group)
    )
    return events


def _run(tmp_path: Path, *args: str, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "topicflow",
                "run",
                "svc:app",
                "--app-dir",
                str(tmp_path),
                *args,
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )


async def _healthy(port: int) -> bool:
    try:
        async with httpx.AsyncClient(timeout=5) as client:
            return (await client.get(f"http://127.0.0.1:{port}/health")).status_code == 204
    except httpx.TransportError:
        return False


async def test_topicflow_run_serves_the_asgi_app_and_sigterm_drains_and_commits(
    bootstrap: str, topic: str, group: str, tmp_path: Path
) -> None:
    events = _write_service(tmp_path, bootstrap, topic, group)
    log = tmp_path / "svc.log"
    port = free_port()
    service = _run(tmp_path, "--port", str(port), log=log)
    try:
        await eventually(lambda: _healthy(port), timeout=60)
        async with KafkaBroker(bootstrap) as producer:
            for n in range(3):
                await producer.publish(n, topic)
            await eventually(lambda: "start 0" in events.read_text(), timeout=30)
            service.send_signal(signal.SIGTERM)  # while a handler runs
            assert service.wait(timeout=60) == 0, log.read_text()
            assert not await _healthy(port)  # HTTP stopped too
            done = [line for line in events.read_text().splitlines() if line.startswith("done")]
            assert sum((await committed_offsets(bootstrap, group)).values()) == len(done)

            service = _run(tmp_path, "--port", str(port), log=log)
            await eventually(lambda: _healthy(port), timeout=60)
            await eventually(lambda: events.read_text().count("done") == 3, timeout=30)
            service.send_signal(signal.SIGTERM)
            assert service.wait(timeout=60) == 0, log.read_text()
    finally:
        if service.poll() is None:
            service.kill()
    starts = [
        line.split()[1] for line in events.read_text().splitlines() if line.startswith("start")
    ]
    assert sorted(starts) == ["0", "1", "2"]  # nothing handled twice


async def test_workers_share_the_http_port(
    bootstrap: str, topic: str, group: str, tmp_path: Path
) -> None:
    _write_service(tmp_path, bootstrap, topic, group)
    log = tmp_path / "svc.log"
    port = free_port()
    service = _run(tmp_path, "--workers", "2", "--port", str(port), log=log)
    try:
        await eventually(lambda: _healthy(port), timeout=60)
        await eventually(lambda: log.read_text().count("started") >= 2, timeout=60)
        assert "address already in use" not in log.read_text().lower()
        service.send_signal(signal.SIGTERM)
        assert service.wait(timeout=60) == 0, log.read_text()
    finally:
        if service.poll() is None:
            service.kill()


@pytest.mark.timeout(240)
async def test_readiness_and_metrics_routes_follow_the_cluster(
    own_cluster: LocalCluster, topic: str, group: str
) -> None:
    registry = CollectorRegistry()
    broker = KafkaBroker(
        own_cluster.bootstrap,
        request_timeout_ms=5000,
        graceful_timeout=3,
        middlewares=[KafkaPrometheusMiddleware(registry=registry, app_name="svc")],
    )

    @broker.subscriber(topic, group_id=group, auto_offset_reset="earliest")
    async def handle(n: int) -> None:
        return None

    app = AsgiFastStream(
        broker,
        asgi_routes=[
            ("/health", make_ping_asgi(broker, timeout=2)),
            ("/ready", make_ready_asgi(broker, timeout=2)),
            ("/metrics", make_metrics_asgi(registry)),
        ],
        logger=None,
    )
    async with serving(app) as client:

        async def status(path: str, code: int) -> bool:
            return (await client.get(path)).status_code == code

        await eventually(lambda: status("/ready", 200), timeout=60)
        assert (await client.get("/ready")).json() == {"ready": True, "problems": []}
        await broker.publish(1, topic)
        await eventually(lambda: status("/health", 204), timeout=10)

        async def counted() -> bool:
            text = (await client.get("/metrics")).text
            families = {f.name: f for f in text_string_to_metric_families(text)}
            received = families.get("topicflow_received_messages")
            return received is not None and any(s.value == 1 for s in received.samples)

        await eventually(counted, timeout=30)
        metrics = await client.get("/metrics")
        assert metrics.headers["content-type"].startswith("text/plain")

        await asyncio.to_thread(own_cluster.stop)
        down = await client.get("/ready")
        assert down.status_code == 503
        body = down.json()
        assert body["ready"] is False
        assert any("did not answer" in problem for problem in body["problems"]), body
        assert (await client.get("/health")).status_code == 500

        await asyncio.to_thread(own_cluster.heal)
        await eventually(lambda: status("/ready", 200), timeout=90)


def _uvicorn(app_dir: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "svc:app", "--port", str(port)],
            cwd=app_dir,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


async def test_the_app_is_a_plain_asgi_app_for_uvicorn_itself(
    bootstrap: str, topic: str, group: str, tmp_path: Path
) -> None:
    events = _write_service(tmp_path, bootstrap, topic, group)
    log = tmp_path / "uvicorn.log"
    port = free_port()
    server = _uvicorn(tmp_path, port, log)
    try:
        await eventually(lambda: _healthy(port), timeout=60)  # its lifespan started the broker
        async with KafkaBroker(bootstrap) as producer:
            await producer.publish(7, topic)
        await eventually(lambda: "done 7" in events.read_text(), timeout=30)
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
    finally:
        if server.poll() is None:
            server.kill()
    assert "Application shutdown complete" in log.read_text(), log.read_text()
    assert sum((await committed_offsets(bootstrap, group)).values()) == 1


UNREACHABLE_SERVICE = """
from topicflow.asgi import AsgiFastStream, make_ping_asgi
from topicflow.kafka import KafkaBroker

broker = KafkaBroker("127.0.0.1:1", request_timeout_ms=2000)
app = AsgiFastStream(broker, asgi_routes=[("/health", make_ping_asgi(broker))])
"""


def test_an_unreachable_cluster_or_a_taken_port_is_one_error_and_exit_1(tmp_path: Path) -> None:
    (tmp_path / "svc.py").write_text(UNREACHABLE_SERVICE)
    command = [sys.executable, "-m", "topicflow", "run", "svc:app", "--app-dir", str(tmp_path)]
    down = subprocess.run(
        [*command, "--port", str(free_port())], capture_output=True, text=True, timeout=60
    )
    assert down.returncode == 1, down.stderr
    assert "Error: KafkaUnavailableError: cannot reach Kafka at 127.0.0.1:1" in down.stderr
    # Taken by another process, even one that lets others share it (as the workers of
    # a `--workers N` service do): a service on its own does not share it.
    with socket.socket() as taken:
        taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy = subprocess.run(
            [*command, "--port", str(port)], capture_output=True, text=True, timeout=60
        )
    assert busy.returncode == 1, busy.stderr
    assert f"cannot serve HTTP on 127.0.0.1:{port}: Address already in use" in busy.stderr


VERSIONED_SERVICE = """
from topicflow.asgi import AsgiFastStream, AsgiResponse, get
from topicflow.kafka import KafkaBroker

broker = KafkaBroker({bootstrap!r})


@get
async def version() -> AsgiResponse:
    return AsgiResponse(b"{version}")

app = AsgiFastStream(broker, asgi_routes=[("/version", version)])
"""


async def test_reload_serves_the_changed_app(bootstrap: str, tmp_path: Path) -> None:
    source = tmp_path / "svc.py"
    source.write_text(VERSIONED_SERVICE.format(bootstrap=bootstrap, version="v1"))
    port = free_port()
    service = _run(tmp_path, "--reload", "--port", str(port), log=tmp_path / "svc.log")

    async def serves(version: str) -> bool:
        try:
            async with httpx.AsyncClient(timeout=5) as client:
                return (await client.get(f"http://127.0.0.1:{port}/version")).text == version
        except httpx.TransportError:
            return False

    try:
        await eventually(lambda: serves("v1"), timeout=60)
        source.write_text(VERSIONED_SERVICE.format(bootstrap=bootstrap, version="v2"))
        await eventually(lambda: serves("v2"), timeout=60)
        service.send_signal(signal.SIGTERM)
        assert service.wait(timeout=60) == 0
    finally:
        if service.poll() is None:
            service.kill()
