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

# What topicflow lacks, by the error each example raises today. Where the first
# error is a missing import, "then" names the next one (found by running the
# copies with that name provided), so an entry explains why it stays after the
# first fix lands.
_FASTSTREAM = "ImportError: cannot import name 'FastStream' from 'topicflow' (the App alias)"
_LOGGER = "ImportError: cannot import name 'Logger' from 'topicflow'"
_CONTEXT_REPO = "ImportError: cannot import name 'ContextRepo' from 'topicflow'"
_ANNOTATIONS = "ModuleNotFoundError: No module named 'topicflow.kafka.annotations'"
_MOCK = (
    "AttributeError: 'function' object has no attribute 'mock' (the decorated handler is the "
    "bare function; the mock is on the subscriber object)"
)
_APP_CONTEXT = "AttributeError: 'App' object has no attribute 'context' (app.context.set_global)"


def _exc(name: str) -> str:
    return f"ImportError: cannot import name {name!r} from 'topicflow.exceptions'"


XFAIL: dict[str, str] = {
    "ack_exceptions": f"{_FASTSTREAM}; then {_MOCK}",
    "ack_manual": f"{_FASTSTREAM}; then {_ANNOTATIONS} (and topicflow.message.AckStatus)",
    "ack_policies": f"{_FASTSTREAM}; then {_MOCK}",
    "asyncapi_from_code": f"{_FASTSTREAM}; then "
    "ModuleNotFoundError: No module named 'topicflow.specification'",
    "asyncapi_info": f"{_FASTSTREAM}; then "
    "ModuleNotFoundError: No module named 'topicflow.specification'",
    "asyncapi_json": f"{_FASTSTREAM}; then "
    "ModuleNotFoundError: No module named 'topicflow.specification'",
    "batch_models": f"{_FASTSTREAM}; then {_LOGGER}",
    "batch_options": f"{_FASTSTREAM}; then {_MOCK}",
    "billing_service": f"{_FASTSTREAM}; then {_LOGGER}",
    "context_broker_annotation": f"{_FASTSTREAM}; then {_ANNOTATIONS}",
    "context_defaults": f"{_FASTSTREAM}; then {_APP_CONTEXT}",
    "context_logger": f"{_FASTSTREAM}; then {_LOGGER}",
    "context_repo": _CONTEXT_REPO,
    "context_set_global": f"{_FASTSTREAM}; then {_APP_CONTEXT}",
    "di_apply_types": f"{_FASTSTREAM}; then "
    "ImportError: cannot import name 'apply_types' from 'topicflow'",
    "di_depends": f"{_FASTSTREAM}; then {_MOCK}",
    "di_subscriber_dependencies": f"{_FASTSTREAM}; then {_MOCK}",
    "exceptions_ignored": f"{_FASTSTREAM}; then {_exc('IgnoredException')}",
    "exceptions_skip_message": f"{_FASTSTREAM}; then {_exc('SkipMessage')}",
    "exceptions_stop_consume": f"{_FASTSTREAM}; then {_exc('StopConsume')}",
    "exceptions_subscriber_not_found": f"{_FASTSTREAM}; then {_exc('SubscriberNotFound')}",
    "getting_started_fields": f"{_FASTSTREAM}; then {_MOCK}",
    "getting_started_hello": f"{_FASTSTREAM}; then {_LOGGER}",
    "getting_started_pydantic": f"{_FASTSTREAM}; then {_MOCK}",
    "getting_started_sync_handler": f"{_FASTSTREAM}; then {_MOCK}",
    "lifespan_context_manager": _CONTEXT_REPO,
    "lifespan_extra_options": _CONTEXT_REPO,
    "middlewares_exceptions": "ImportError: cannot import name 'ExceptionMiddleware' from "
    "'topicflow'",
    "middlewares_scopes": f"{_FASTSTREAM}; then "
    "ModuleNotFoundError: No module named 'topicflow.message' (StreamMessage)",
    "publishing_batch": f"{_FASTSTREAM}; then {_MOCK}",
    "publishing_broker_publish": f"{_FASTSTREAM}; then {_MOCK}",
    "publishing_decorator": f"{_FASTSTREAM}; then {_MOCK}",
    "publishing_headers": f"{_FASTSTREAM}; then {_MOCK}",
    "publishing_kafka_response": f"{_FASTSTREAM}; then {_ANNOTATIONS}",
    "routers_nested": f"{_FASTSTREAM}; then {_MOCK}",
    "routers_prefix": f"{_FASTSTREAM}; then {_MOCK}",
    "routers_routes": f"{_FASTSTREAM}; then {_MOCK}",
    "subscription_filters": f"{_FASTSTREAM}; then {_MOCK}",
    "subscription_groups": f"{_FASTSTREAM}; then {_MOCK}",
    "subscription_local_model": "SetupError: cannot read the type annotations of "
    "test_a_handler_declared_in_the_test.<locals>.handle: name 'Order' is not defined (a "
    "class defined in the test function, with `from __future__ import annotations`)",
    "subscription_partitions": f"{_FASTSTREAM}; then {_ANNOTATIONS}",
    "subscription_pattern": f"{_FASTSTREAM}; then {_MOCK}",
    "subscription_topics": f"{_FASTSTREAM}; then {_MOCK}",
    "testing_fixture": f"{_FASTSTREAM}; then {_MOCK}",
    "testing_handler_errors": f"{_FASTSTREAM}; then Failed: DID NOT RAISE ValueError (a "
    "handler's exception does not come out of TestKafkaBroker's publish()); and {_MOCK}",
    "testing_mock_assertions": f"{_FASTSTREAM}; then {_MOCK}",
    "testing_subscriber_in_test": f"{_FASTSTREAM}; then {_MOCK}",
    "testing_test_app": _CONTEXT_REPO,
    "testing_validation_errors": f"{_FASTSTREAM}; then Failed: DID NOT RAISE ValidationError "
    "(an invalid body is logged as poison instead of raised out of publish())",
    "testing_wait_call": f"{_FASTSTREAM}; then AttributeError: 'function' object has no "
    "attribute 'wait_call'",
}


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
