"""The Python examples in README.md and docs/ are real code: each file's blocks execute.

Blocks of one file run in order in one namespace, so a later block may use what
an earlier one defined. Statement snippets meant for inside a coroutine (they use
``await`` at top level) are compiled as the body of a coroutine.
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from topicflow.kafka import KafkaBroker

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"```python\n(.*?)^\s*```", re.DOTALL | re.MULTILINE)
WITH_CODE = [path for path in DOCS if BLOCK.search(path.read_text())]


def test_the_readme_has_its_example() -> None:
    assert ROOT / "README.md" in WITH_CODE


@pytest.mark.parametrize("path", WITH_CODE, ids=[path.name for path in WITH_CODE])
def test_examples_define_working_services(path: Path) -> None:
    namespace: dict[str, object] = {"__name__": f"docs_{path.stem}"}
    for n, block in enumerate(BLOCK.findall(path.read_text())):
        code = textwrap.dedent(block)
        if re.search(r"^(async with|await) ", code, flags=re.M) and "async def" not in code:
            body = "".join(f"    {line}\n" for line in code.splitlines())
            code = f"async def _snippet_{n}():\n{body}"
        exec(compile(code, f"{path.name}#{n}", "exec"), namespace)
    brokers = [v for v in namespace.values() if isinstance(v, KafkaBroker)]
    for broker in brokers:
        assert all(sub.plan is not None for sub in broker.subscribers), path.name


def test_the_testing_guide_example_passes_under_pytest(tmp_path: Path) -> None:
    """The guide's test file, run by pytest as a user would run it."""
    guide = (ROOT / "docs" / "testing.md").read_text()
    [example] = [code for code in BLOCK.findall(guide) if code.startswith("# test_orders.py")]
    (tmp_path / "test_orders.py").write_text(example)
    # The option only silences pytest-asyncio's warning that it is unset.
    options = ["-q", "-p", "no:cacheprovider", "-W", "error"]
    options += ["-o", "asyncio_default_fixture_loop_scope=function"]
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "test_orders.py", *options],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 passed" in result.stdout
