"""Copy the porting examples for one framework and run them with pytest in its venv.

Each example in ``examples/`` is written once, against FastStream: a module
``NAME.py`` (the service and its tests in one file) or a package ``NAME/``
(the service in ``app.py``, its tests in ``test_*.py``, importing it as
``NAME.app``). :func:`make_tree` copies them all into one folder, as test
modules, for ``faststream`` unchanged or for ``topicflow`` with the import lines
rewritten, and nothing else changed. :func:`run_tree` runs that folder with one
pytest process and returns the outcome of each example: a module's tests, or a
package's, all passed.

Run by hand: ``python -m tests.compat.porting.runner topicflow`` (or
``faststream PYTHON``) prints one line per example.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Literal

Side = Literal["faststream", "topicflow"]

EXAMPLES = Path(__file__).resolve().with_name("examples")

# Only the framework's own import lines change: `from faststream... import` and
# `import faststream...`. A name used in the code (there is none) would not.
_IMPORT = re.compile(r"^(?P<indent>[ \t]*)(?P<kw>from|import)[ \t]+faststream\b", re.MULTILINE)

#: What both sides run with besides the framework (the test tools; httpx and FastAPI
#: for the ASGI and FastAPI examples): the versions of this project's venv.
TOOLS = ("pytest", "pytest-asyncio", "pytest-timeout", "fastapi", "httpx")

_PYTEST_INI = """\
[pytest]
asyncio_default_fixture_loop_scope = function
timeout = 60
addopts = -p no:cacheprovider
"""

# Written into the copied tree: records each test's outcome for run_tree().
_REPORTER = '''\
"""Records each test outcome, and each collection error, as a JSON line."""

import json
import os


def _record(report, when):
    crash = getattr(report.longrepr, "reprcrash", None)
    line = {
        "nodeid": report.nodeid,
        "when": when,
        "outcome": report.outcome,
        "error": crash.message if crash is not None else "",
        "text": str(report.longrepr)[-4000:] if report.failed else "",
    }
    with open(os.environ["PORTING_REPORT"], "a", encoding="utf-8") as out:
        out.write(json.dumps(line) + "\\n")


def pytest_runtest_logreport(report):
    if report.when == "call" or report.outcome != "passed":
        _record(report, report.when)


def pytest_collectreport(report):
    if report.failed:
        _record(report, "collect")
'''


def example_names() -> list[str]:
    """Every example, by name: a module's stem or a package's folder name."""
    names = []
    for path in EXAMPLES.iterdir():
        if path.name.startswith(("_", ".")):
            continue
        if path.is_dir() or path.suffix == ".py":
            names.append(path.stem)
    return sorted(names)


def rewrite(source: str, side: Side) -> str:
    """The source for ``side``: for topicflow, ``faststream`` becomes ``topicflow`` in imports."""
    if side == "faststream":
        return source
    return _IMPORT.sub(lambda m: f"{m['indent']}{m['kw']} topicflow", source)


def make_tree(side: Side, dest: Path) -> Path:
    """Copy every example into ``dest`` (emptied first) as tests for ``side``."""
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    for name in example_names():
        path = EXAMPLES / name
        if path.is_dir():
            for source in sorted(path.rglob("*.py")):
                if "__pycache__" in source.parts:
                    continue
                target = dest / name / source.relative_to(path)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(rewrite(source.read_text(), side))
        else:
            target = dest / f"test_{name}.py"
            target.write_text(rewrite(path.with_suffix(".py").read_text(), side))
    (dest / "pytest.ini").write_text(_PYTEST_INI)
    (dest / "conftest.py").write_text(_REPORTER)
    return dest


@dataclass
class Outcome:
    """What one example's tests did."""

    passed: int = 0
    failures: list[dict[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.passed > 0 and not self.failures

    def summary(self) -> str:
        if self.ok:
            return f"{self.passed} passed"
        if not self.failures:
            return "no test ran (the example defines none, or pytest did not reach it)"
        lines = []
        for failure in self.failures:
            lines.append(f"{failure['nodeid']} ({failure['when']}): {failure['error'] or 'failed'}")
        first = self.failures[0]["text"]
        return "\n".join(lines) + "\n\n" + first


@dataclass
class Run:
    """One pytest run over a tree: the outcome per example, and pytest's own output."""

    outcomes: dict[str, Outcome]
    output: str
    returncode: int


def _example_of(nodeid: str) -> str:
    first = nodeid.split("::", 1)[0].split("/", 1)[0]
    if first.endswith(".py"):
        first = first.removeprefix("test_").removesuffix(".py")
    return first


def run_tree(python: Path, tree: Path, timeout: float = 600) -> Run:
    """Run pytest with ``python`` on a tree made by :func:`make_tree`."""
    report = tree / "report.jsonl"
    report.unlink(missing_ok=True)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PORTING_REPORT"] = str(report)
    try:
        result = subprocess.run(
            [
                str(python),
                "-m",
                "pytest",
                "-q",
                "--continue-on-collection-errors",
                "--rootdir",
                str(tree),
                str(tree),
            ],
            cwd=tree,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        output, code = result.stdout + result.stderr, result.returncode
    except subprocess.TimeoutExpired as exc:
        output, code = f"pytest did not finish within {timeout} s: {exc}", -1
    outcomes = {name: Outcome() for name in example_names()}
    lines = report.read_text().splitlines() if report.exists() else []
    for line in lines:
        item = json.loads(line)
        outcome = outcomes.setdefault(_example_of(item["nodeid"]), Outcome())
        if item["outcome"] == "passed":
            outcome.passed += 1
        else:  # failed, or skipped: an example that skips proves nothing
            outcome.failures.append(item)
    return Run(outcomes, output, code)


def tool_requirements() -> list[str]:
    """``pytest==X`` and friends, at the versions installed in this project's venv."""
    return [f"{tool}=={metadata.version(tool)}" for tool in TOOLS]


def ensure_tools(python: Path) -> None:
    """Install the test tools into another venv (FastStream's) unless it has them."""
    wanted = tool_requirements()
    check = (
        "import importlib.metadata as m, sys; "
        "print(*(f'{t}=={m.version(t)}' for t in sys.argv[1:]))"
    )
    have = subprocess.run(
        [str(python), "-c", check, *TOOLS], capture_output=True, text=True, check=False
    )
    if have.returncode == 0 and have.stdout.split() == wanted:
        return
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *wanted],
        check=True,
        capture_output=True,
        text=True,
        timeout=600,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("side", choices=["faststream", "topicflow"])
    parser.add_argument("python", nargs="?", help="the venv's Python (default: this one)")
    parser.add_argument("--keep", type=Path, help="make the copies here, and keep them")
    args = parser.parse_args()
    python = Path(args.python or sys.executable).absolute()  # not resolve(): keep the venv
    if args.python:
        ensure_tools(python)
    dest = args.keep or Path(tempfile.mkdtemp(prefix=f"porting-{args.side}-"))
    run = run_tree(python, make_tree(args.side, dest))
    for name, outcome in sorted(run.outcomes.items()):
        first = outcome.summary().splitlines()[0]
        print(f"{'PASS' if outcome.ok else 'FAIL'}  {name}: {first}")
    ok = sum(o.ok for o in run.outcomes.values())
    print(f"{ok} of {len(run.outcomes)} examples passed; the copies are in {dest}")
    return 0 if ok == len(run.outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
