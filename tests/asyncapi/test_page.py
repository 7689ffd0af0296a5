"""`topicflow docs serve`: the page, seen by a real headless browser that has no network."""

from __future__ import annotations

import json
import re
import select
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.asyncapi import service
from tests.asyncapi.conftest import ROOT, SERVICE

#: Payload fields nested in models (and lists of models), as the page marks them.
NESTED_FIELDS = [
    "customer.address.city",  # Order -> Customer -> Address
    "lines[].sku",  # Order -> list[LineItem]
    "bill_to.address.postcode",  # Invoice -> Customer -> Address (optional)
    "children",  # Category.children: list[Category], named rather than expanded forever
]

#: Headless Chromium without a network: no host name resolves but the test's own
#: 127.0.0.1, and anything addressed by IP goes to a proxy that is not there
#: (Chromium never proxies loopback), so a page that needed the internet would break.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    "--proxy-server=http://127.0.0.1:9",
]


@pytest.fixture
def docs_url() -> Iterator[str]:
    """``topicflow docs serve`` on a free port; stopped with SIGTERM, which must exit 0."""
    command = ["docs", "serve", SERVICE, "--host", "127.0.0.1", "--port", "0"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "topicflow", *command],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    deadline = time.monotonic() + 30
    line = ""
    while "http://" not in line:
        ready, _, _ = select.select([proc.stderr], [], [], 0.5)
        if ready:
            line = proc.stderr.readline()
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"docs serve did not start: {line}{proc.stderr.read()}")
    match = re.search(r"http://\S+/", line)
    assert match, line
    try:
        yield match.group(0)
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=10)
        proc.stderr.close()
    assert code == 0


def _get(url: str) -> tuple[str, str]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.headers["Content-Type"], response.read().decode()


def _field(dom: str, path: str) -> str:
    """The markup of one payload field, up to the end of its own line."""
    found = re.search(rf'data-field="{re.escape(path)}".*?</li>', dom, re.DOTALL)
    assert found, path
    return found.group(0)


def _chromium(chromium: str, *args: str) -> str:
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        proc = subprocess.run(
            [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
            capture_output=True,
            text=True,
            timeout=90,
            check=False,
        )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def test_page_and_raw_documents_are_served(docs_url: str) -> None:
    content_type, page = _get(docs_url)
    assert content_type.startswith("text/html")

    _, as_json = _get(docs_url + "asyncapi.json")
    _, as_yaml = _get(docs_url + "asyncapi.yaml")
    assert json.loads(as_json)["asyncapi"] == "3.0.0"
    assert yaml.safe_load(as_yaml) == json.loads(as_json)
    _, legacy = _get(docs_url + "asyncapi-2.6.0.json")
    assert json.loads(legacy)["asyncapi"] == "2.6.0"

    # The page links to each raw document, and to nothing outside itself.
    links = re.findall(r'href="([^"]*)"', page)
    external = [link for link in links if not link.startswith("#")]
    assert sorted(external) == sorted(
        ["asyncapi.json", "asyncapi.yaml", "asyncapi-2.6.0.json", "asyncapi-2.6.0.yaml"]
    )
    for needle in ("<script", "<link", " src=", "url(", "@import", "@font-face"):
        assert needle not in page, needle

    with pytest.raises(urllib.error.HTTPError) as missing:
        _get(docs_url + "nothing-here")
    missing.value.close()
    assert missing.value.code == 404


def test_a_browser_without_network_shows_every_channel_and_nested_field(
    docs_url: str, chromium: str, artifacts: Path
) -> None:
    dom = _chromium(chromium, "--dump-dom", docs_url)

    channels = re.findall(r'data-channel="([^"]*)"', dom)
    assert sorted(channels) == sorted(service.DOCUMENTED_TOPICS)
    fields = set(re.findall(r'data-field="([^"]*)"', dom))
    for field in NESTED_FIELDS:
        assert field in fields, field
    # The required flags of a nested model's fields: Address.city is, postcode is not.
    assert 'class="req"' in _field(dom, "customer.address.city")
    assert 'class="opt"' in _field(dom, "customer.address.postcode")
    assert "Category: as above (recursive)" in _field(dom, "children")
    for hidden in service.HIDDEN_TOPICS:
        assert hidden not in dom
    assert re.search(r'data-server="kafka-0".*?127\.0\.0\.1:9092', dom, re.DOTALL)

    screenshot = artifacts / "asyncapi-docs.png"
    screenshot.unlink(missing_ok=True)
    _chromium(chromium, f"--screenshot={screenshot}", "--window-size=1280,2000", docs_url)
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    print(f"\nscreenshot of the docs page: {screenshot}")
