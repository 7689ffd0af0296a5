"""Every client error the transport can meet becomes a topicflow error that names the fix.

The table walked here is the transport's own (``CLIENT_ERRORS``: per operation,
the aiokafka errors it can raise, by rule); nothing is mocked: each error is
made as the client makes it and translated as the transport translates it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from aiokafka import errors as kafka_errors
from aiokafka.structs import TopicPartition

import topicflow
from topicflow import exceptions
from topicflow.exceptions import (
    KafkaConnectTimeout,
    PublishError,
    PublishTimeout,
    RequestTimeout,
    SetupError,
    TopicflowError,
    WaitTimeout,
)
from topicflow.kafka._errors import RULES, facts
from topicflow.kafka._memory import MemoryKafka, MemoryTransport
from topicflow.kafka._options import ConnectionOptions, ConsumerSpec
from topicflow.kafka._transport import CLIENT_ERRORS, AiokafkaTransport, translate

OPTIONS = ConnectionOptions(
    bootstrap_servers="kafka-1:9092",
    request_timeout_ms=5000,
    producer={"max_request_size": 2_000_000},
)
SPEC = ConsumerSpec(topics=("orders",), group_id="billing", options={"auto_offset_reset": "none"})
CONSUMING = {"getmany", "commit", "position"}

CASES = [
    (operation, rule, error)
    for operation, rules in CLIENT_ERRORS.items()
    for rule, errors in rules.items()
    for error in errors
]


def _facts(operation: str) -> dict[str, object]:
    if operation in CONSUMING:
        return facts(OPTIONS, spec=SPEC)
    return facts(OPTIONS, topic="orders")


def _made_by_the_client(error: type[BaseException]) -> BaseException:
    if error is kafka_errors.NoOffsetForPartitionError:
        return error(TopicPartition("orders", 0))
    return error()


@pytest.mark.parametrize(
    ("operation", "rule", "error"), CASES, ids=[f"{o}-{e.__name__}" for o, _, e in CASES]
)
def test_each_client_error_becomes_a_topicflow_error_with_a_hint(
    operation: str, rule: str, error: type[BaseException]
) -> None:
    exc = _made_by_the_client(error)
    translated = translate(operation, exc, _facts(operation))

    assert isinstance(translated, TopicflowError)
    assert type(translated) is RULES[rule].becomes
    what = exc.args[0] if rule == "no_committed_offset" else "a partition"
    hint = RULES[rule].hint.format_map({**_facts(operation), "what": what})
    assert hint.strip()
    assert hint in str(translated)
    assert translated.__cause__ is None  # the caller raises it from the client's error


def test_every_operation_takes_any_other_client_error() -> None:
    class NewInSomeClientVersion(kafka_errors.KafkaError):
        pass

    for operation, rules in CLIENT_ERRORS.items():
        last_rule = list(rules)[-1]
        assert kafka_errors.KafkaError in rules[last_rule], operation
        translated = translate(operation, NewInSomeClientVersion("new"), _facts(operation))
        assert type(translated) is RULES[last_rule].becomes
        assert "NewInSomeClientVersion: new" in str(translated)


def test_every_rule_is_used_and_names_a_topicflow_type() -> None:
    used = {rule for rules in CLIENT_ERRORS.values() for rule in rules}
    assert used == set(RULES)
    for rule in RULES.values():
        assert issubclass(rule.becomes, TopicflowError)
        assert rule.hint.rstrip().endswith("."), rule.hint


def test_the_known_cases_say_what_to_do() -> None:
    too_large = kafka_errors.MessageSizeTooLargeError()
    refused = translate("confirm", too_large, facts(OPTIONS, topic="orders"))
    assert isinstance(refused, PublishError)
    assert "max.message.bytes" in str(refused)
    assert "max_request_size (2000000 bytes)" in str(refused)
    assert "'orders'" in str(refused)

    unknown = kafka_errors.UnknownTopicOrPartitionError()
    assert "auto.create.topics.enable" in str(translate("send", unknown, _facts("send")))
    illegal = translate("send", unknown, facts(OPTIONS, topic="bad topic!"))
    assert "topic names are 1 to 249" in str(illegal)

    moved_on = translate("commit", kafka_errors.CommitFailedError("gone"), _facts("commit"))
    assert "rebalanced" in str(moved_on)
    assert "group 'billing'" in str(moved_on)

    no_offset = _made_by_the_client(kafka_errors.NoOffsetForPartitionError)
    setup = translate("getmany", no_offset, _facts("getmany"))
    assert isinstance(setup, SetupError)
    assert str(setup).startswith(
        "TopicPartition(topic='orders', partition=0) has no committed offset in group "
        "'billing', and auto_offset_reset='none'"
    )

    silent = translate("connect", TimeoutError(), _facts("connect"))
    assert isinstance(silent, KafkaConnectTimeout)
    assert silent.bootstrap_servers == "kafka-1:9092"
    assert "wait-for-broker" in str(silent)


def test_every_timeout_a_caller_can_meet_is_a_timeout_error() -> None:
    for timeout in (KafkaConnectTimeout, PublishTimeout, RequestTimeout, WaitTimeout):
        assert issubclass(timeout, TimeoutError)
        assert issubclass(timeout, TopicflowError)
    for operation in ("connect", "confirm", "create_topics"):
        translated = translate(operation, TimeoutError(), _facts(operation))
        assert isinstance(translated, TimeoutError), operation
    buffer_full = translate("send", kafka_errors.KafkaTimeoutError(), _facts("send"))
    assert isinstance(buffer_full, PublishTimeout)


def test_the_tree_in_the_docstring_names_every_exception() -> None:
    drawn = set(re.findall(r"[├└]── (\w+)", exceptions.__doc__ or ""))
    # FastStreamException is another name of TopicflowError, the root.
    assert drawn | {"TopicflowError", "FastStreamException"} == set(exceptions.__all__)
    assert set(exceptions.__all__) <= set(topicflow.__all__)


async def test_publishing_on_a_transport_that_is_not_connected_names_the_fix() -> None:
    for transport in (AiokafkaTransport(OPTIONS), MemoryTransport(MemoryKafka())):
        with pytest.raises(SetupError, match=r"await broker\.connect\(\)"):
            await transport.send(
                "orders", b"x", key=None, partition=None, timestamp_ms=None, headers=[]
            )
        with pytest.raises(SetupError, match=r"await broker\.connect\(\)"):
            await transport.send_batch(
                "orders", [(b"x", None, [])], partition=None, timestamp_ms=None
            )


def test_the_errors_page_names_every_client_error_of_the_table() -> None:
    page = (Path(__file__).resolve().parents[2] / "docs" / "errors.md").read_text()
    for rules in CLIENT_ERRORS.values():
        for errors in rules.values():
            for error in errors:
                assert f"`{error.__name__}`" in page, error.__name__
    for name in exceptions.__all__:
        assert name in page, name


def test_the_example_of_the_errors_page_is_what_the_code_says() -> None:
    page = (Path(__file__).resolve().parents[2] / "docs" / "errors.md").read_text()
    example = page.split("```text\n", 1)[1].split("```", 1)[0]
    options = ConnectionOptions("127.0.0.1:9092", producer={"max_request_size": 3_000_000})
    refused = translate(
        "confirm", kafka_errors.MessageSizeTooLargeError(), facts(options, topic="orders")
    )
    assert " ".join(example.split()) == f"{type(refused).__name__}: {refused}"
