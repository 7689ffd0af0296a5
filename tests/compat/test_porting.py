"""The porting suite (issue 15): FastStream-style services and tests, run by both frameworks.

Each example in ``porting/examples/`` is written once, against FastStream 0.7.8,
the way its documentation shows. ``porting/runner.py`` copies them twice: as
they are, run with pytest in FastStream's venv (``.cache/faststream-venv``, the
proof that the examples are faithful), and with ``faststream`` replaced by
``topicflow`` in the import lines only, run with pytest in this venv. Each side
is one pytest process over all the examples; one test here per example and
side reports its outcome.

``XFAIL`` lists the examples topicflow cannot run yet, each with the error it
raises today. The marks are strict: an example that starts to pass fails the
suite until its entry is removed, so the list stays the list of what is missing.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.compat.porting.runner import (
    Run,
    ensure_tools,
    example_names,
    make_tree,
    rewrite,
    run_tree,
)

EXAMPLES = example_names()


# What topicflow lacks, by the error each example raises today (the topicflow copy
# run by `python -m tests.compat.porting.runner topicflow --keep DIR`). Strict: an
# example that starts to pass fails here until its entry goes.
XFAIL: dict[str, str] = {}


def _report(run: Run, example: str) -> None:
    outcome = run.outcomes[example]
    if not outcome.ok:
        tail = "" if outcome.failures else "\n\npytest's output:\n" + run.output[-3000:]
        pytest.fail(f"{example}: {outcome.summary()}{tail}", pytrace=False)


@pytest.fixture(scope="session")
def topicflow_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    tree = make_tree("topicflow", tmp_path_factory.mktemp("porting") / "topicflow")
    return run_tree(Path(sys.executable), tree)


@pytest.fixture(scope="session")
def faststream_run(faststream_python: Path, tmp_path_factory: pytest.TempPathFactory) -> Run:
    ensure_tools(faststream_python)
    tree = make_tree("faststream", tmp_path_factory.mktemp("porting") / "faststream")
    return run_tree(faststream_python, tree)


def _topicflow_params() -> list[object]:
    return [
        pytest.param(name, marks=pytest.mark.xfail(strict=True, reason=XFAIL[name]))
        if name in XFAIL
        else name
        for name in EXAMPLES
    ]


@pytest.mark.parametrize("example", _topicflow_params())
def test_topicflow_runs_the_example(topicflow_run: Run, example: str) -> None:
    _report(topicflow_run, example)


# Creating FastStream's venv (a pip install, first run only) takes longer than a test.
@pytest.mark.compat
@pytest.mark.timeout(900)
@pytest.mark.parametrize("example", EXAMPLES)
def test_faststream_runs_the_example(faststream_run: Run, example: str) -> None:
    _report(faststream_run, example)


def test_the_suite_has_the_examples_issue_15_asks_for() -> None:
    assert len(EXAMPLES) >= 40
    areas = {name.split("_", 1)[0] for name in EXAMPLES}
    assert areas >= {
        "getting",
        "subscription",
        "publishing",
        "testing",
        "di",
        "context",
        "middlewares",
        "asyncapi",
        "batch",
        "ack",
        "routers",
        "lifespan",
        "exceptions",
    }


def test_every_xfail_entry_names_an_example() -> None:
    assert sorted(set(XFAIL) - set(EXAMPLES)) == []


def test_only_import_lines_are_rewritten() -> None:
    source = (
        "from faststream import FastStream\n"
        "from faststream.kafka import KafkaBroker\n"
        "    import faststream.kafka as fk\n"
        'text = "from faststream import x"  # not an import line\n'
        "from billing_service.app import broker  # faststream\n"
    )
    assert rewrite(source, "topicflow") == (
        "from topicflow import FastStream\n"
        "from topicflow.kafka import KafkaBroker\n"
        "    import topicflow.kafka as fk\n"
        'text = "from faststream import x"  # not an import line\n'
        "from billing_service.app import broker  # faststream\n"
    )
    assert rewrite(source, "faststream") == source


def test_the_topicflow_copies_import_no_faststream(tmp_path: Path) -> None:
    tree = make_tree("topicflow", tmp_path / "tree")
    for path in tree.rglob("*.py"):
        for line in path.read_text().splitlines():
            stripped = line.strip()
            assert not stripped.startswith(("from faststream", "import faststream")), (path, line)
