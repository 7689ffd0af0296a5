"""``topicflow run`` with FastStream's options, as real processes: short flags, extra
options into the hooks, ``--log-config``, ``--loop``, ``--workers`` with ``worker_id``,
``--reload`` with ``--ext``.

The services here have no broker (an App runs its hooks without one), so no Kafka
is needed.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

HOOKS = """
import json, os
from topicflow import App

app = App()
events = open({events!r}, "a", buffering=1)

@app.on_startup
def configure(**options):
    events.write(json.dumps({{"pid": os.getpid(), **options}}, sort_keys=True) + "\\n")
"""


def _service(tmp_path: Path, source: str = HOOKS, name: str = "svc") -> Path:
    events = tmp_path / "events.txt"
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(source).format(events=str(events)))
    return events


def _start(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "topicflow", "run", *args, "--app-dir", str(tmp_path)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )


def _until(check: object, proc: subprocess.Popen[str], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        if proc.poll() is not None:
            out = proc.stdout.read() if proc.stdout else ""
            raise AssertionError(f"exited early ({proc.returncode}):\n{out}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"timed out:\n{proc.communicate()[0]}")
        time.sleep(0.05)


def _stop(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    return out


def _records(events: Path) -> list[dict[str, object]]:
    if not events.exists():
        return []
    return [json.loads(line) for line in events.read_text().splitlines()]


def test_extra_options_reach_the_hooks_as_faststream_parses_them(tmp_path: Path) -> None:
    events = _service(tmp_path)
    proc = _start(
        tmp_path,
        "svc:app",
        "-l",
        "warning",
        "--env",
        "prod",
        "--tag",
        "a",
        "--tag=b",
        "--no-color",
        "--verbose",
        "--pair",
        "x",
        "y",
        "--dsn=postgres://u@h/db?a=b",
        "--max-size",
        "5",
    )
    _until(lambda: _records(events), proc)
    out = _stop(proc)
    (record,) = _records(events)
    record.pop("pid")
    assert record == {
        "env": "prod",
        "tag": ["a", "b"],  # repeated: a list
        "color": False,  # --no-NAME
        "verbose": True,
        "pair": ["x", "y"],  # several values: a list
        "dsn": "postgres://u@h/db?a=b",  # split at the first '=' only
        "max_size": "5",
        "worker_id": None,  # one process
    }
    # -l warning: the INFO lines of the start are not shown.
    assert "started" not in out


def test_workers_get_their_worker_id(tmp_path: Path) -> None:
    events = _service(tmp_path)
    proc = _start(tmp_path, "svc:app", "-w", "2")
    _until(lambda: len(_records(events)) == 2, proc)
    _stop(proc)
    records = _records(events)
    assert sorted(r["worker_id"] for r in records) == [0, 1]  # type: ignore[type-var]
    assert len({r["pid"] for r in records}) == 2


def test_workers_and_log_level_from_the_environment(tmp_path: Path) -> None:
    events = _service(tmp_path)
    env = {"PATH": "/usr/bin:/bin", "TOPICFLOW_WORKERS": "2", "TOPICFLOW_LOG_LEVEL": "debug"}
    proc = _start(tmp_path, "svc:app", env=env)
    _until(lambda: len(_records(events)) == 2, proc)
    out = _stop(proc)
    assert "started 2 workers" in out


LOG_CONFIGS = {
    "json": json.dumps(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "formatters": {"tagged": {"format": "CONFIGURED %(levelname)s %(message)s"}},
            "handlers": {
                "file": {"class": "logging.FileHandler", "filename": "{log}", "formatter": "tagged"}
            },
            "loggers": {"topicflow": {"handlers": ["file"], "level": "INFO"}},
        }
    ),
    "yaml": """
version: 1
disable_existing_loggers: false
formatters:
  tagged: {format: "CONFIGURED %(levelname)s %(message)s"}
handlers:
  file: {class: logging.FileHandler, filename: "{log}", formatter: tagged}
loggers:
  topicflow: {handlers: [file], level: INFO}
""",
    "toml": """
version = 1
disable_existing_loggers = false
[formatters.tagged]
format = "CONFIGURED %(levelname)s %(message)s"
[handlers.file]
class = "logging.FileHandler"
filename = "{log}"
formatter = "tagged"
[loggers.topicflow]
handlers = ["file"]
level = "INFO"
""",
}


@pytest.mark.parametrize("fmt", list(LOG_CONFIGS))
def test_log_config_files_configure_logging(tmp_path: Path, fmt: str) -> None:
    events = _service(tmp_path)
    log = tmp_path / "service.log"
    config = tmp_path / f"logging.{fmt}"
    config.write_text(LOG_CONFIGS[fmt].replace("{log}", str(log)))
    proc = _start(tmp_path, "svc:app", "--log-config", str(config))
    _until(lambda: log.exists() and "started" in log.read_text(), proc)
    _stop(proc)
    assert _records(events)
    assert "CONFIGURED INFO topicflow started" in log.read_text().splitlines()


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("missing.json", None, "cannot read"),
        ("logging.ini", "[loggers]\n", "is not .json, .yaml, .yml or .toml"),
        ("bad.json", "{", "is not valid JSON"),
        ("list.yaml", "- 1\n", "holds a list, not a logging dictConfig mapping"),
        ("wrong.json", '{"version": 1, "handlers": {"h": {"class": "no.Such"}}}', "--log-config"),
    ],
)
def test_log_config_mistakes_are_one_line(
    tmp_path: Path, name: str, content: str | None, expected: str
) -> None:
    _service(tmp_path)
    if content is not None:
        (tmp_path / name).write_text(content)
    proc = _start(tmp_path, "svc:app", "--log-config", str(tmp_path / name))
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode in (1, 2), out
    assert expected in out, out
    assert "Traceback" not in out
    assert len([line for line in out.splitlines() if line.startswith("Error")]) == 1, out


def test_loop_names_the_event_loop_factory(tmp_path: Path) -> None:
    (tmp_path / "myloop.py").write_text(
        "import asyncio\n"
        "class MarkedLoop(asyncio.SelectorEventLoop):\n"
        "    pass\n"
        "def new_loop():\n"
        "    return MarkedLoop()\n"
    )
    events = _service(
        tmp_path,
        HOOKS + "\n@app.after_startup\n"
        "async def which_loop():\n"
        "    import asyncio\n"
        "    loop = type(asyncio.get_running_loop()).__name__\n"
        "    events.write(json.dumps({{'loop': loop}}) + '\\n')\n",
    )
    proc = _start(tmp_path, "svc:app", "--loop", "myloop:new_loop")
    _until(lambda: len(_records(events)) == 2, proc)
    _stop(proc)
    assert _records(events)[1] == {"loop": "MarkedLoop"}


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--loop", "nowhere:factory"], "cannot load 'nowhere:factory'"),
        (["--loop", "uvloop"], "is not 'auto' or MODULE:FACTORY"),
        (["--ext", ".toml"], "--extension has no effect without --reload"),
    ],
)
def test_option_mistakes_are_one_line(tmp_path: Path, args: list[str], expected: str) -> None:
    _service(tmp_path)
    proc = _start(tmp_path, "svc:app", *args)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 2, out
    assert expected in out, out
    assert "Traceback" not in out


def test_reload_with_ext_restarts_on_other_files(tmp_path: Path) -> None:
    events = _service(tmp_path)
    settings = tmp_path / "settings.toml"
    settings.write_text("a = 1\n")
    proc = _start(tmp_path, "svc:app", "-r", "--ext", "toml")
    try:
        _until(lambda: len(_records(events)) == 1, proc)
        time.sleep(0.5)  # let the watcher settle
        settings.write_text("a = 2\n")
        _until(lambda: len(_records(events)) == 2, proc, timeout=30)
    finally:
        out = _stop(proc)
    assert "settings.toml" in out
    assert len({r["pid"] for r in _records(events)}) == 2
