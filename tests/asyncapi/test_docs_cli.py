"""``topicflow docs gen`` and ``docs serve`` with FastStream's options, as real processes."""

from __future__ import annotations

import json
import re
import select
import signal
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from tests.asyncapi.conftest import ROOT, SERVICE

ONE_TOPIC = """
from topicflow import App
from topicflow.kafka import KafkaBroker

broker = KafkaBroker("k:9092")

@broker.subscriber({topic!r})
async def handle(n: int) -> None: ...

def make() -> App:
    return App(broker, title="Made")
"""


def _docs(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "topicflow", "docs", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_gen_writes_asyncapi_json_or_yaml_by_default(tmp_path: Path) -> None:
    proc = _docs("gen", SERVICE, "--app-dir", str(ROOT), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""
    assert "asyncapi.json" in proc.stderr
    document = json.loads((tmp_path / "asyncapi.json").read_text())
    assert document["asyncapi"] == "3.0.0"

    proc = _docs("gen", SERVICE, "-y", "--app-dir", str(ROOT), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert yaml.safe_load((tmp_path / "asyncapi.yaml").read_text()) == document

    proc = _docs("gen", SERVICE, "-o", "api.json", "--app-dir", str(ROOT), cwd=tmp_path)
    assert json.loads((tmp_path / "api.json").read_text()) == document


def test_gen_debug_prints_and_writes_nothing(tmp_path: Path) -> None:
    proc = _docs("gen", SERVICE, "-d", "--app-dir", str(ROOT), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["asyncapi"] == "3.0.0"
    assert list(tmp_path.iterdir()) == []


def test_gen_with_a_factory(tmp_path: Path) -> None:
    (tmp_path / "made.py").write_text(textwrap.dedent(ONE_TOPIC).format(topic="events"))
    proc = _docs("gen", "made:make", "-f", "-o", "-", "--app-dir", str(tmp_path), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    document = json.loads(proc.stdout)
    assert (document["info"]["title"], list(document["channels"])) == ("Made", ["events"])


class _Served:
    def __init__(self, *args: str, cwd: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "topicflow", "docs", "serve", *args],
            cwd=cwd,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )

    def next_url(self, timeout: float = 30) -> str:
        """The address of the next server started (one line per start)."""
        assert self.proc.stderr is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.proc.stderr], [], [], 0.5)
            if ready:
                line = self.proc.stderr.readline()
                match = re.search(r"serving the docs of .* at (http://\S+/)", line)
                if match:
                    return match.group(1)
            if self.proc.poll() is not None:
                break
        self.proc.kill()
        raise AssertionError(f"no server started: {self.proc.stderr.read()}")

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=30)
        if self.proc.stderr is not None:
            self.proc.stderr.close()
        return code


def _get_json(url: str) -> dict[str, object]:
    with urllib.request.urlopen(url, timeout=10) as response:
        document: dict[str, object] = json.loads(response.read())
        return document


def test_serve_a_document_file(tmp_path: Path) -> None:
    assert (
        _docs("gen", SERVICE, "-o", "doc.json", "--app-dir", str(ROOT), cwd=tmp_path).returncode
        == 0
    )
    written = json.loads((tmp_path / "doc.json").read_text())
    served = _Served("doc.json", "--host", "127.0.0.1", "--port", "0", cwd=tmp_path)
    try:
        url = served.next_url()
        assert _get_json(url + "asyncapi.json") == written
        with urllib.request.urlopen(url, timeout=10) as response:
            assert "Shop" in response.read().decode()
    finally:
        assert served.stop() == 0


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("doc.txt", "{}", "is neither MODULE:APP nor a .json, .yaml or .yml file"),
        ("old.json", '{"asyncapi": "2.6.0"}', "is an AsyncAPI 2.6.0 document"),
        ("bad.yaml", "a: [", "is not valid YAML"),
        ("gone.json", None, "cannot read"),
    ],
)
def test_serve_file_mistakes_are_one_line(
    tmp_path: Path, name: str, content: str | None, expected: str
) -> None:
    if content is not None:
        (tmp_path / name).write_text(content)
    proc = _docs("serve", name, "--port", "0", cwd=tmp_path)
    assert proc.returncode in (1, 2), proc.stderr
    assert expected in proc.stderr
    assert "Traceback" not in proc.stderr
    assert len([line for line in proc.stderr.splitlines() if line.startswith("Error")]) == 1


def test_serve_reload_shows_the_changed_app(tmp_path: Path) -> None:
    source = tmp_path / "live_docs.py"
    source.write_text(textwrap.dedent(ONE_TOPIC).format(topic="before") + "app = make()\n")
    served = _Served(
        "live_docs:app",
        "-r",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--app-dir",
        str(tmp_path),
        cwd=tmp_path,
    )
    try:
        first = served.next_url()
        assert list(_get_json(first + "asyncapi.json")["channels"]) == ["before"]  # type: ignore[call-overload]
        time.sleep(0.5)  # let the watcher settle
        source.write_text(textwrap.dedent(ONE_TOPIC).format(topic="after") + "app = make()\n")
        second = served.next_url()
        assert list(_get_json(second + "asyncapi.json")["channels"]) == ["after"]  # type: ignore[call-overload]
    finally:
        assert served.stop() == 0
