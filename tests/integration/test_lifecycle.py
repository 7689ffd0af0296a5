"""`topicflow run` as real processes: graceful SIGTERM, workers, reload, options, logging."""

from __future__ import annotations

import asyncio
import collections
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import committed_offsets, eventually
from topicflow.kafka import KafkaBroker

pytestmark = pytest.mark.kafka


def start(app_dir: Path, *args: str, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:  # the child keeps its own copy of the file descriptor
        return subprocess.Popen(
            [sys.executable, "-m", "topicflow", "run", *args, "--app-dir", str(app_dir)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def stop(proc: subprocess.Popen[bytes], timeout: float = 60) -> int:
    proc.send_signal(signal.SIGTERM)
    return proc.wait(timeout=timeout)


SLOW_SERVICE = """
import asyncio, os
from topicflow import App
from topicflow.kafka import KafkaBroker

broker = KafkaBroker({bootstrap!r}, graceful_timeout={graceful})
app = App(broker)
events = open({events!r}, "a", buffering=1)

@broker.subscriber({topic!r}, group_id={group!r}, max_workers=10, auto_offset_reset="earliest")
async def slow(n: int) -> None:
    events.write(f"start {{n}} {{os.getpid()}}\\n")
    await asyncio.sleep({delay})
    events.write(f"done {{n}} {{os.getpid()}}\\n")
"""


def write_slow_service(
    tmp_path: Path, bootstrap: str, topic: str, group: str, *, delay: float, graceful: float
) -> Path:
    events = tmp_path / "events.txt"
    (tmp_path / "slow.py").write_text(
        textwrap.dedent(SLOW_SERVICE).format(
            bootstrap=bootstrap,
            events=str(events),
            topic=topic,
            group=group,
            delay=delay,
            graceful=graceful,
        )
    )
    return events


async def test_sigterm_lets_ten_slow_handlers_finish_and_commits_them(
    bootstrap: str, topic: str, group: str, create_topic: Any, tmp_path: Path
) -> None:
    await create_topic(topic, 10)
    events = write_slow_service(tmp_path, bootstrap, topic, group, delay=2.0, graceful=15)
    log = tmp_path / "service.log"
    service = start(tmp_path, "slow:app", log=log)
    async with KafkaBroker(bootstrap) as producer:
        await eventually(
            lambda: "slow started" in log.read_text() or "topicflow started" in log.read_text(),
            timeout=60,
        )
        for n in range(10):
            await producer.publish(n, topic, partition=n)
        await eventually(
            lambda: sum(line.startswith("start") for line in lines(events)) == 10, timeout=30
        )
        code = stop(service)
        assert code == 0, log.read_text()
        assert sorted(
            int(line.split()[1]) for line in lines(events) if line.startswith("done")
        ) == (list(range(10)))
        assert sum((await committed_offsets(bootstrap, group)).values()) == 10

        # After a restart, nothing of the ten comes again, and new messages are handled.
        service = start(tmp_path, "slow:app", log=log)
        await eventually(lambda: log.read_text().count("topicflow started") == 2, timeout=60)
        await producer.publish(99, topic, partition=3)
        await eventually(
            lambda: any(line.startswith("done 99") for line in lines(events)), timeout=30
        )
        assert stop(service) == 0
    starts = collections.Counter(
        line.split()[1] for line in lines(events) if line.startswith("start")
    )
    assert all(count == 1 for count in starts.values()), starts


async def test_handlers_outliving_graceful_timeout_are_cancelled_and_come_again(
    bootstrap: str, topic: str, group: str, create_topic: Any, tmp_path: Path
) -> None:
    await create_topic(topic, 2)
    events = write_slow_service(tmp_path, bootstrap, topic, group, delay=30.0, graceful=1)
    log = tmp_path / "service.log"
    service = start(tmp_path, "slow:app", log=log)
    async with KafkaBroker(bootstrap) as producer:
        await eventually(lambda: "topicflow started" in log.read_text(), timeout=60)
        await producer.publish(1, topic, partition=0)
        await eventually(lambda: any(line.startswith("start 1") for line in lines(events)))
        started = time.monotonic()
        assert stop(service) == 0
        assert time.monotonic() - started < 15  # bounded by graceful_timeout, not the handler
    assert "outlived graceful_timeout" in log.read_text()
    assert await committed_offsets(bootstrap, group) == {}  # not committed: it comes again


WORKER_SERVICE = """
import os
from topicflow import App
from topicflow.kafka import KafkaBroker

broker = KafkaBroker({bootstrap!r})
app = App(broker)
handled = open({handled!r}, "a", buffering=1)

@broker.subscriber({topic!r}, group_id={group!r}, auto_offset_reset="earliest",
                   heartbeat_interval_ms=500)
async def work(n: int) -> None:
    handled.write(f"{{n}} {{os.getpid()}}\\n")
"""


async def test_three_workers_share_six_partitions_and_stop_together(
    bootstrap: str, topic: str, group: str, create_topic: Any, tmp_path: Path
) -> None:
    await create_topic(topic, 6)
    handled = tmp_path / "handled.txt"
    (tmp_path / "work.py").write_text(
        textwrap.dedent(WORKER_SERVICE).format(
            bootstrap=bootstrap, handled=str(handled), topic=topic, group=group
        )
    )
    log = tmp_path / "service.log"
    parent = start(tmp_path, "work:app", "--workers", "3", log=log)

    def shares() -> dict[str, int]:
        # The last assignment each worker process logged: "[pid] ... assigned t[0], t[3]".
        latest: dict[str, int] = {}
        for line in log.read_text().splitlines():
            match = re.search(r"\[(\d+)\] topicflow: .*: assigned (.*)$", line)
            if match:
                latest[match.group(1)] = len(match.group(2).split(", "))
            elif re.search(r"\[(\d+)\] topicflow: .*: revoked", line):
                latest.pop(re.search(r"\[(\d+)\]", line).group(1), None)  # type: ignore[union-attr]
        return latest

    await eventually(lambda: sorted(shares().values()) == [2, 2, 2], timeout=90)
    async with KafkaBroker(bootstrap) as producer:
        for n in range(60):
            await producer.publish(n, topic, key=str(n))
    await eventually(lambda: len(lines(handled)) >= 60, timeout=60)
    await asyncio.sleep(1)  # a duplicate would show up now
    code = stop(parent)
    output = log.read_text()
    assert code == 0, output
    numbers = collections.Counter(int(line.split()[0]) for line in lines(handled))
    assert sorted(numbers) == list(range(60))
    assert set(numbers.values()) == {1}  # exactly once while the workers were stable
    assert len({line.split()[1] for line in lines(handled)}) == 3  # all three worked
    assert output.count("topicflow stopped") == 3


RELOAD_SERVICE = """
from topicflow import App
from topicflow.kafka import KafkaBroker

VERSION = {version}
broker = KafkaBroker({bootstrap!r})
app = App(broker)
seen = open({seen!r}, "a", buffering=1)

@broker.subscriber({topic!r}, group_id={group!r}, auto_offset_reset="earliest")
async def handle(n: int) -> None:
    seen.write(f"v{{VERSION}} {{n}}\\n")
"""


async def test_reload_restarts_on_a_changed_file_and_keeps_consuming(
    bootstrap: str, topic: str, group: str, tmp_path: Path
) -> None:
    seen = tmp_path / "seen.txt"
    source = tmp_path / "live.py"

    def write(version: int) -> None:
        source.write_text(
            textwrap.dedent(RELOAD_SERVICE).format(
                version=version, bootstrap=bootstrap, seen=str(seen), topic=topic, group=group
            )
        )

    write(1)
    log = tmp_path / "service.log"
    service = start(tmp_path, "live:app", "--reload", log=log)
    try:
        async with KafkaBroker(bootstrap) as producer:
            await eventually(lambda: "topicflow started" in log.read_text(), timeout=60)
            await producer.publish(1, topic)
            await eventually(lambda: "v1 1" in lines(seen), timeout=30)
            write(2)
            await eventually(lambda: log.read_text().count("topicflow started") == 2, timeout=60)
            await producer.publish(2, topic)
            await eventually(lambda: "v2 2" in lines(seen), timeout=30)
    finally:
        code = stop(service)
    assert "restarting" in log.read_text()
    assert lines(seen) == ["v1 1", "v2 2"]  # nothing handled twice across the restart
    assert code == 0


OPTIONS_SERVICE = """
from contextlib import asynccontextmanager
from topicflow import App
from topicflow.kafka import KafkaBroker

events = open({events!r}, "a", buffering=1)

@asynccontextmanager
async def lifespan(greeting: str):
    events.write(f"lifespan enter {{greeting}}\\n")
    yield
    events.write("lifespan exit\\n")

def create_app() -> App:
    app = App(KafkaBroker({bootstrap!r}), lifespan=lifespan)

    @app.on_startup
    def configure(greeting: str, count: int, verbose: bool = False) -> None:
        events.write(f"startup {{greeting!r}} {{count!r}} {{verbose!r}}\\n")

    @app.after_startup
    def ready() -> None:
        events.write("ready\\n")

    return app
"""


def test_factory_extra_options_and_lifespan(bootstrap: str, tmp_path: Path) -> None:
    events = tmp_path / "events.txt"
    (tmp_path / "factory_svc.py").write_text(
        textwrap.dedent(OPTIONS_SERVICE).format(events=str(events), bootstrap=bootstrap)
    )
    log = tmp_path / "service.log"
    service = start(
        tmp_path,
        "factory_svc:create_app",
        "--factory",
        "--greeting",
        "hello",
        "--count=3",
        "--verbose",
        log=log,
    )
    deadline = time.monotonic() + 60
    while "ready" not in lines(events):
        assert time.monotonic() < deadline, log.read_text()
        assert service.poll() is None, log.read_text()
        time.sleep(0.1)
    assert stop(service) == 0
    assert lines(events) == [
        "lifespan enter hello",
        "startup 'hello' 3 True",  # validated against the hook's annotations
        "ready",
        "lifespan exit",
    ]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["svc:app", "--workers", "2", "--reload"], "--reload and --workers cannot be combined"),
        (["svc:app", "--workers", "0"], "0 is not in the range x>=1"),
        (["svc:app", "stray"], "unexpected argument 'stray'"),
        (["svc:make"], "is it a factory? add --factory"),
    ],
)
def test_bad_command_lines_are_one_line(tmp_path: Path, args: list[str], expected: str) -> None:
    (tmp_path / "svc.py").write_text("def make():\n    return None\n")
    proc = subprocess.run(
        [sys.executable, "-m", "topicflow", "run", *args, "--app-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode != 0
    assert expected in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr


async def test_access_log_line_per_message_and_logger_none_silences_it(
    bootstrap: str, topic: str, group: str, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    caplog.set_level(logging.INFO, logger="topicflow")
    broker = KafkaBroker(bootstrap)
    quiet = KafkaBroker(bootstrap, logger=None)
    got: list[int] = []
    for b in (broker, quiet):
        b.subscriber(topic, group_id=f"{group}-{id(b)}", auto_offset_reset="earliest")(got.append)
    async with broker, quiet:
        await broker.start()
        await quiet.start()
        await broker.publish(7, topic, correlation_id="corr-7")
        await eventually(lambda: len(got) == 2)
    access = [r.getMessage() for r in caplog.records if "correlation_id=corr-7" in r.getMessage()]
    assert access == [f"{topic}-0-0 group={group}-{id(broker)} correlation_id=corr-7: acked"]
