"""The Python examples in README.md and docs/ are real code: each one executes."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from topicflow import App
from topicflow.kafka import KafkaBroker

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)


def _blocks() -> list[tuple[str, str]]:
    found = []
    for path in DOCS:
        for n, code in enumerate(BLOCK.findall(path.read_text())):
            found.append((f"{path.name}#{n}", code))
    return found


def test_the_readme_has_its_example() -> None:
    assert any(name.startswith("README.md") for name, _ in _blocks())


@pytest.mark.parametrize(("name", "code"), _blocks(), ids=[name for name, _ in _blocks()])
def test_example_defines_a_working_service(name: str, code: str) -> None:
    if "async with" in code and "def " not in code:
        # A snippet of statements meant for inside a coroutine: compile it as one.
        code = "async def _snippet():\n" + "".join(f"    {line}\n" for line in code.splitlines())
        namespace: dict[str, object] = {"Order": dict, "KafkaBroker": KafkaBroker}
        exec(compile(code, name, "exec"), namespace)
        return
    namespace = {"__name__": f"docs_example_{name}"}
    exec(compile(code, name, "exec"), namespace)
    brokers = [v for v in namespace.values() if isinstance(v, KafkaBroker)]
    apps = [v for v in namespace.values() if isinstance(v, App)]
    assert brokers, f"{name} declares no broker"
    assert all(sub.plan is not None for b in brokers for sub in b.subscribers)
    assert apps or not brokers[0].subscribers


def test_the_testing_guide_example_passes_under_pytest(tmp_path: Path) -> None:
    """The guide's test file, run by pytest as a user would run it."""
    guide = (ROOT / "docs" / "testing.md").read_text()
    [example] = [code for code in BLOCK.findall(guide) if code.startswith("# test_orders.py")]
    (tmp_path / "test_orders.py").write_text(example)
    pytest_args = ["test_orders.py", "-q", "-p", "no:cacheprovider", "-W", "error"]
    # One event loop for the file: the subscriber cannot start yet in a second loop
    # (see test_a_service_can_be_tested_again_in_a_new_event_loop).
    pytest_args += ["-o", "asyncio_default_fixture_loop_scope=module"]
    pytest_args += ["-o", "asyncio_default_test_loop_scope=module"]
    result = subprocess.run(
        [sys.executable, "-m", "pytest", *pytest_args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 passed" in result.stdout
