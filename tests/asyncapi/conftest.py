"""Tools the AsyncAPI tests drive: the official parser (Node) and headless Chromium.

scripts/test installs both before pytest runs. When one is missing, the tests
that need it fail and say how to install it: a documentation check that
silently skips would pass on a machine that checked nothing.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
VALIDATE = Path(__file__).with_name("validate.mjs")
PARSER_MODULES = Path(
    os.environ.get("ASYNCAPI_PARSER_MODULES", ROOT / ".cache" / "npm" / "node_modules")
)
SERVICE = "tests.asyncapi.service:app"


def topicflow(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run the ``topicflow`` command line from the repository root."""
    return subprocess.run(
        [sys.executable, "-m", "topicflow", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """``test-artifacts/`` (git-ignored): what a reviewer looks at after the run."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def asyncapi_parser() -> Callable[[Path], dict[str, Any]]:
    """Validate a document file with @asyncapi/parser; returns validate.mjs's JSON report."""
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not installed; the AsyncAPI parser test needs Node.js 18+")
    if not (PARSER_MODULES / "@asyncapi" / "parser" / "package.json").is_file():
        pytest.fail(
            f"@asyncapi/parser is not installed in {PARSER_MODULES}. ./scripts/test installs "
            "it; by hand: npm install --prefix .cache/npm @asyncapi/parser",
            pytrace=False,
        )

    def validate(document: Path) -> dict[str, Any]:
        proc = subprocess.run(
            [node, str(VALIDATE), str(document)],
            capture_output=True,
            text=True,
            timeout=90,
            check=False,
            env={**os.environ, "ASYNCAPI_PARSER_MODULES": str(PARSER_MODULES)},
        )
        if proc.returncode not in (0, 1):
            raise AssertionError(f"validate.mjs failed ({proc.returncode}):\n{proc.stderr}")
        report: dict[str, Any] = json.loads(proc.stdout)
        assert report["valid"] == (proc.returncode == 0)
        return report

    return validate


@pytest.fixture(scope="session")
def chromium() -> str:
    """The headless browser: Debian's ``chromium`` package."""
    path = shutil.which("chromium")
    if path is None:
        pytest.fail(
            "chromium is not installed. ./scripts/test installs it; by hand (as root): "
            "apt-get update && apt-get install -y chromium",
            pytrace=False,
        )
    return path
