"""`topicflow run` as a real process: hooks, graceful SIGTERM/SIGINT, one-line errors."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.helpers import committed_offsets

SERVICE = """
from topicflow import App
from topicflow.kafka import KafkaBroker

broker = KafkaBroker({bootstrap!r})
app = App(broker)
events = open({events!r}, "a", buffering=1)

@broker.subscriber({topic!r}, group_id={group!r}, auto_offset_reset="earliest")
async def handle(n: int) -> None:
    events.write(f"handled {{n}}\\n")

app.on_startup(lambda: events.write("on_startup\\n"))

@app.after_startup
async def ready() -> None:
    events.write("after_startup\\n")
    await broker.publish(1, {topic!r})

@app.on_shutdown
def bye() -> None:
    events.write("on_shutdown\\n")

@app.after_shutdown
async def gone() -> None:
    events.write("after_shutdown\\n")
"""


def _topicflow(*args: str, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "topicflow", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _wait_for(path: Path, text: str, proc: subprocess.Popen[str], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text():
            return
        if proc.poll() is not None:
            out = proc.stdout.read() if proc.stdout else ""
            raise AssertionError(f"service exited early ({proc.returncode}):\n{out}")
        time.sleep(0.05)
    proc.kill()
    raise AssertionError(f"{text!r} did not appear in {path}")


@pytest.mark.kafka
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_run_stops_gracefully_on_signals(
    bootstrap: str, topic: str, group: str, tmp_path: Path, sig: signal.Signals
) -> None:
    events = tmp_path / "events.txt"
    (tmp_path / "service.py").write_text(
        textwrap.dedent(SERVICE).format(
            bootstrap=bootstrap, events=str(events), topic=topic, group=group
        )
    )
    proc = _topicflow("run", "service:app", "--app-dir", str(tmp_path), cwd=Path.cwd())
    _wait_for(events, "handled 1", proc)
    proc.send_signal(sig)
    out, _ = proc.communicate(timeout=30)

    assert proc.returncode == 0, out
    assert events.read_text().splitlines() == [
        "on_startup",
        "after_startup",
        "handled 1",
        "on_shutdown",
        "after_shutdown",
    ]
    assert "Traceback" not in out
    # The handled message was committed on the way out.
    assert sum((await committed_offsets(bootstrap, group)).values()) == 1


def test_wrong_import_path_is_one_line(tmp_path: Path) -> None:
    proc = _topicflow("run", "no_such_module:app", "--app-dir", str(tmp_path), cwd=tmp_path)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode != 0
    assert "cannot import 'no_such_module'" in out
    assert "Traceback" not in out
    assert len(out.strip().splitlines()) == 1, out


def test_missing_attribute_and_bad_form_are_one_line(tmp_path: Path) -> None:
    (tmp_path / "svc.py").write_text("app = None\nother = 1\n")
    cases = {
        "svc:nothing": "has no attribute 'nothing'",
        "svc:other": "not a topicflow App",
        "svc": "is not MODULE:APP",
    }
    for target, expected in cases.items():
        proc = _topicflow("run", target, "--app-dir", str(tmp_path), cwd=tmp_path)
        out, _ = proc.communicate(timeout=30)
        assert proc.returncode != 0, target
        assert expected in out, out
        assert "Traceback" not in out


def test_unreachable_kafka_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "svc.py").write_text(
        "from topicflow import App\n"
        "from topicflow.kafka import KafkaBroker\n"
        "app = App(KafkaBroker('127.0.0.1:1', request_timeout_ms=2000))\n"
    )
    proc = _topicflow("run", "svc:app", "--app-dir", str(tmp_path), cwd=tmp_path)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 1
    error_lines = [line for line in out.splitlines() if line.startswith("Error:")]
    assert error_lines == [error_lines[0]]
    assert "KafkaUnavailableError" in error_lines[0]
    assert "127.0.0.1:1" in error_lines[0]
    assert "Traceback" not in out


@pytest.mark.parametrize(
    ("files", "target", "frames", "error"),
    [
        (
            {"svc.py": "import os\n\nDB_URL = os.environ['db_url_not_set']\n"},
            "svc:app",
            [("svc.py", 3, "DB_URL = os.environ['db_url_not_set']")],
            "importing 'svc' raised KeyError: 'db_url_not_set'",
        ),
        (
            {"outer.py": "import inner\n", "inner.py": "x = 1\n\n\ny = x / 0\n"},
            "outer:app",
            [("outer.py", 1, "import inner"), ("inner.py", 4, "y = x / 0")],
            "importing 'outer' raised ZeroDivisionError: division by zero",
        ),
        (
            {"dep.py": "import no_such_dependency\n"},
            "dep:app",
            [("dep.py", 1, "import no_such_dependency")],
            "importing 'dep' raised ModuleNotFoundError: No module named 'no_such_dependency'",
        ),
        (
            {"fac.py": "def make():\n    settings = {}\n    return settings['db']\n"},
            "fac:make",
            [("fac.py", 3, "return settings['db']")],
            "fac:make() raised KeyError: 'db'",
        ),
    ],
)
def test_errors_in_the_users_code_show_its_traceback(
    tmp_path: Path,
    files: dict[str, str],
    target: str,
    frames: list[tuple[str, int, str]],
    error: str,
) -> None:
    for name, source in files.items():
        (tmp_path / name).write_text(source)
    extra = ["--factory"] if target == "fac:make" else []
    proc = _topicflow("run", target, *extra, "--app-dir", str(tmp_path), cwd=tmp_path)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 1, out
    lines = out.splitlines()
    assert lines[0] == "Traceback (most recent call last):", out
    for name, line, code in frames:
        assert any(
            entry.startswith(f'  File "{tmp_path / name}", line {line}, in ') for entry in lines
        ), out
        assert f"    {code}" in lines, out
    # None of importlib's or the CLI's own frames: the first is the user's.
    files_shown = [entry for entry in lines if entry.startswith("  File ")]
    assert str(tmp_path) in files_shown[0], out
    assert not any("importlib" in entry or "topicflow" in entry for entry in files_shown), out
    assert lines[-1] == f"Error: {error} (traceback above)", out


def test_a_syntax_error_shows_the_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "typo.py").write_text("app = None\ndef broken(:\n    pass\n")
    proc = _topicflow("run", "typo:app", "--app-dir", str(tmp_path), cwd=tmp_path)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 1, out
    assert f'  File "{tmp_path / "typo.py"}", line 2' in out, out
    assert "SyntaxError" in out.splitlines()[-2] or "SyntaxError" in out
    assert out.splitlines()[-1].startswith("Error: importing 'typo' raised SyntaxError"), out


def test_docs_gen_shows_the_traceback_too(tmp_path: Path) -> None:
    (tmp_path / "svc.py").write_text("raise RuntimeError('no config')\n")
    proc = subprocess.run(
        [sys.executable, "-m", "topicflow", "docs", "gen", "svc:app", "--app-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert proc.returncode == 1
    assert f'  File "{tmp_path / "svc.py"}", line 1, in <module>' in proc.stderr
    assert proc.stderr.splitlines()[-1] == (
        "Error: importing 'svc' raised RuntimeError: no config (traceback above)"
    )


LISTED = """
from topicflow import App
from topicflow.kafka import KafkaBroker, KafkaRouter

broker = KafkaBroker({bootstrap!r})
app = App(broker)
router = KafkaRouter(prefix="{prefix}.")
alerts = broker.publisher("{prefix}.alerts")

@broker.subscriber("{prefix}.orders", "{prefix}.refunds", group_id="billing")
@broker.publisher("{prefix}.invoices")
async def bill_order(n: int) -> int:
    return n

@router.subscriber(pattern="logs.*")
async def read_logs(line: str) -> None: ...

broker.include_router(router)
"""


@pytest.mark.kafka
def test_startup_lists_subscribers_and_publishers(
    bootstrap: str, topic: str, tmp_path: Path
) -> None:
    (tmp_path / "listed.py").write_text(
        textwrap.dedent(LISTED).format(bootstrap=bootstrap, prefix=topic)
    )
    proc = _topicflow("run", "listed:app", "--app-dir", str(tmp_path), cwd=tmp_path)
    assert proc.stdout is not None
    seen: list[str] = []
    deadline = time.monotonic() + 60
    while not any("topicflow started" in line for line in seen):
        line = proc.stdout.readline()
        assert line, "".join(seen)
        assert time.monotonic() < deadline, "".join(seen)
        seen.append(line)
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=30)
    listed = [
        line.split("topicflow: ", 1)[1].rstrip()
        for line in seen
        if ": subscriber " in line or ": publisher " in line
    ]
    billing = f"{topic}.orders, {topic}.refunds (group billing)"
    assert listed == [
        f"subscriber bill_order: {billing} waiting for messages",
        f"subscriber read_logs: pattern {topic}.logs.* waiting for messages",
        f"publisher to {topic}.invoices (results of bill_order)",
        f"publisher to {topic}.alerts",
    ]
    assert proc.returncode == 0


ECHO = """
from topicflow import App
from topicflow.kafka import KafkaBroker

broker = KafkaBroker({bootstrap!r})
app = App(broker)

@broker.subscriber({topic!r}, group_id={group!r}, auto_offset_reset="earliest")
async def echo(body: dict) -> dict:
    return {{"got": body}}
"""


def _publish(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "topicflow", "publish", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def _read_one(bootstrap: str, topic: str, group: str) -> tuple[bytes | None, object]:
    from topicflow.kafka import KafkaBroker

    async with KafkaBroker(bootstrap) as reader:
        sub = reader.subscriber(topic, group_id=group, auto_offset_reset="earliest")
        await sub.start()
        try:
            msg = await sub.get_one(timeout=30)
            assert msg is not None
            return msg.key, await msg.decode()
        finally:
            await sub.stop()


@pytest.mark.kafka
def test_publish_sends_one_message_and_rpc_prints_the_reply(
    bootstrap: str, topic: str, group: str, tmp_path: Path
) -> None:
    (tmp_path / "echo.py").write_text(
        textwrap.dedent(ECHO).format(bootstrap=bootstrap, topic=topic, group=group)
    )
    where = ("--app-dir", str(tmp_path))
    sent = _publish("echo:app", '{"n": 1}', "--topic", topic, "--key", "k1", *where)
    assert sent.returncode == 0, sent.stderr
    assert asyncio.run(_read_one(bootstrap, topic, f"{group}-reader")) == (b"k1", {"n": 1})

    service = _topicflow("run", "echo:app", *where, cwd=tmp_path)
    try:
        assert service.stdout is not None
        while "started" not in (line := service.stdout.readline()):
            assert line, "the echo service exited"
        asked = _publish(
            "echo:app", '{"n": 2}', "--rpc", "--topic", topic, "--timeout", "30", *where
        )
    finally:
        service.send_signal(signal.SIGTERM)
        service.communicate(timeout=30)
    assert asked.returncode == 0, asked.stderr
    assert json.loads(asked.stdout) == {"got": {"n": 2}}


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["hi"], "name the topic: --topic TOPIC"),
        (["hi", "--topic", "t", "--partition", "x"], "--partition 'x'"),
        (["hi", "--topic", "t", "--bogus", "1"], "--bogus is not an option of this publish"),
        (["hi", "--topic", "t", "--rpc", "--reply-to", "r"], "--reply-to is not an option"),
    ],
)
def test_publish_mistakes_are_one_line(tmp_path: Path, args: list[str], expected: str) -> None:
    (tmp_path / "svc.py").write_text(
        "from topicflow import App\nfrom topicflow.kafka import KafkaBroker\n"
        "app = App(KafkaBroker('127.0.0.1:1'))\n"
    )
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "topicflow",
            "publish",
            "svc:app",
            *args,
            "--app-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2, proc.stderr
    assert expected in proc.stderr
    assert "Traceback" not in proc.stderr
