"""subscriber(): the kind follows the reference's overloads; misconfiguration fails at once."""

from __future__ import annotations

import inspect
import re
from pathlib import Path
from typing import Any

import pytest

from topicflow import AckPolicy, SetupError
from topicflow.kafka import (
    BatchSubscriber,
    ConcurrentBetweenPartitionsSubscriber,
    ConcurrentDefaultSubscriber,
    DefaultSubscriber,
    KafkaBroker,
    KafkaRouter,
    TestKafkaBroker,
    TopicPartition,
)
from topicflow.kafka._options import CONSUMER_OPTION_NAMES, SubscriberConfig, SubscriberOptions
from topicflow.params import Path as PathParam

REFERENCE = Path(__file__).resolve().parents[3] / "shared" / "seed" / "KafkaRouter-reference.txt"


def test_kind_follows_the_arguments() -> None:
    broker = KafkaBroker()
    assert type(broker.subscriber("t")) is DefaultSubscriber
    assert type(broker.subscriber("t", batch=True)) is BatchSubscriber
    assert type(broker.subscriber("t", max_workers=3)) is ConcurrentDefaultSubscriber
    assert (
        type(broker.subscriber("t", group_id="g", max_workers=3))
        is ConcurrentBetweenPartitionsSubscriber
    )


@pytest.mark.parametrize(
    ("args", "kwargs", "fix"),
    [
        (("t",), {"pattern": "t.*"}, "topics or pattern=, not both"),
        ((), {"partitions": [TopicPartition("t", 0)], "group_id": "g"}, "drop group_id"),
        (("t",), {"batch": True, "max_workers": 2}, "cannot be combined"),
        ((), {}, "needs a topic"),
        (("t",), {"max_workers": 0}, "at least 1"),
        (("t",), {"enable_auto_commit": True}, "choose when a message counts as done"),
    ],
    ids=["topics+pattern", "partitions+group", "batch+workers", "nothing", "workers<1", "unknown"],
)
def test_misconfiguration_is_a_setup_error_naming_the_fix(
    args: tuple[str, ...], kwargs: dict[str, Any], fix: str
) -> None:
    broker = KafkaBroker()
    with pytest.raises(SetupError, match=re.escape(fix)):
        broker.subscriber(*args, **kwargs)


@pytest.mark.parametrize(
    ("kwargs", "fix"),
    [
        ({"auto_offset_reset": "earliset"}, "did you mean 'earliest'?"),
        ({"auto_offset_reset": "beginning"}, "is not one of 'earliest', 'latest', 'none'"),
        ({"isolation_level": "committed"}, "did you mean 'read_committed'?"),
        ({"session_timeout_ms": 0}, "session_timeout_ms must be a whole number of at least 1"),
        ({"max_poll_records": 2.5}, "max_poll_records must be a whole number"),
        ({"fetch_max_wait_ms": True}, "fetch_max_wait_ms must be a whole number"),
        ({"max_records": 0, "batch": True}, "max_records must be a whole number of at least 1"),
        (
            {"session_timeout_ms": 6000, "heartbeat_interval_ms": 6000},
            "must be below session_timeout_ms",
        ),
        ({"check_crcs": "yes"}, "check_crcs must be True or False"),
        ({"ack_policy": "manual"}, "is not an AckPolicy; use e.g. ack_policy=AckPolicy."),
        ({"batch": True, "ack_policy": AckPolicy.MANUAL}, "AckPolicy.MANUAL cannot apply"),
        ({"group_instance_id": "pod-1"}, "needs a group: give group_id="),
        ({"listener": object()}, "needs on_partitions_assigned(assigned)"),
    ],
    ids=[
        "offset-reset-typo",
        "offset-reset-word",
        "isolation-typo",
        "zero-timeout",
        "float",
        "bool-for-int",
        "max-records",
        "heartbeat",
        "flag",
        "policy-string",
        "batch-manual",
        "static-without-group",
        "listener",
    ],
)
def test_option_values_are_checked_at_registration(kwargs: dict[str, Any], fix: str) -> None:
    broker = KafkaBroker()
    with pytest.raises(SetupError, match=re.escape(fix)):
        broker.subscriber("t", **kwargs)


def test_a_broker_or_router_policy_must_be_an_ack_policy() -> None:
    with pytest.raises(SetupError, match=re.escape("is not an AckPolicy; use e.g.")):
        KafkaBroker(ack_policy="ack")  # type: ignore[arg-type]
    with pytest.raises(SetupError, match=re.escape("is not an AckPolicy; use e.g.")):
        KafkaRouter(ack_policy="nack_on_error")  # type: ignore[arg-type]


async def test_a_batch_subscriber_inheriting_manual_fails_at_start() -> None:
    broker = KafkaBroker("memory:9092", ack_policy=AckPolicy.MANUAL)

    @broker.subscriber("t", batch=True)
    async def handle(items: list[int]) -> None: ...

    with pytest.raises(SetupError, match=re.escape("AckPolicy.MANUAL cannot apply")):
        async with TestKafkaBroker(broker):
            pass


def test_a_bad_regex_is_a_setup_error() -> None:
    with pytest.raises(SetupError, match="not a valid regular expression"):
        KafkaBroker().subscriber(pattern="logs.(")


def test_path_parameters_must_match_pattern_placeholders() -> None:
    broker = KafkaBroker()

    async def handler(level: str = PathParam()) -> None: ...

    with pytest.raises(SetupError, match="no pattern="):
        broker.subscriber("logs")(handler)
    with pytest.raises(SetupError, match="does not define"):
        broker.subscriber(pattern="logs.{severity}")(handler)
    broker.subscriber(pattern="logs.{level}")(handler)  # fine


def test_batch_handlers_take_a_list() -> None:
    sub = KafkaBroker().subscriber("t", batch=True)

    async def wrong(item: int) -> None: ...

    with pytest.raises(SetupError, match=r"list\[T\]"):
        sub(wrong)


#: The reference's subscriber() parameters and defaults, as this project reads them
#: (kept here so the check runs anywhere; it is compared with the reference file
#: itself when that is present, as in CI).
REFERENCE_PARAMS = {
    "batch": "False", "group_id": "None", "group_instance_id": "None",
    "key_deserializer": "None", "value_deserializer": "", "fetch_max_bytes": "50 * 1024 * 1024",
    "fetch_min_bytes": "1", "fetch_max_wait_ms": "500",
    "max_partition_fetch_bytes": "1 * 1024 * 1024", "auto_offset_reset": "",
    "auto_commit_interval_ms": "5 * 1000", "check_crcs": "True",
    "partition_assignment_strategy": "", "max_poll_interval_ms": "5 * 60 * 1000",
    "rebalance_timeout_ms": "None", "session_timeout_ms": "10 * 1000",
    "heartbeat_interval_ms": "3 * 1000", "consumer_timeout_ms": "200",
    "max_poll_records": "None", "exclude_internal_topics": "True", "isolation_level": "",
    "batch_timeout_ms": "200", "max_records": "None", "listener": "None", "pattern": "None",
    "partitions": "()", "persistent": "True", "dependencies": "()", "parser": "None",
    "decoder": "None", "max_workers": "None", "ack_policy": "EMPTY", "no_reply": "False",
    "title": "None", "description": "None", "include_in_schema": "True",
}  # fmt: skip


def _reference_subscriber_params() -> dict[str, str]:
    """Parameter names and defaults of the reference's last subscriber() overload."""
    text = REFERENCE.read_text()
    block = text.split("subscriber(\n*topics: str,")[-1].split(") -> Union[")[0]
    params: dict[str, str] = {}
    for line in re.findall(r"^(\w+): .*?(?: = (.+?))?,?$", block, flags=re.M):
        params[line[0]] = line[1].rstrip(",")
    return params


def test_the_reference_file_says_the_same() -> None:
    if not REFERENCE.exists():
        pytest.skip(f"the API reference is not beside this checkout ({REFERENCE})")
    assert _reference_subscriber_params() == REFERENCE_PARAMS


def test_every_reference_parameter_exists_with_its_default() -> None:
    reference = REFERENCE_PARAMS
    ours = set(SubscriberOptions.__annotations__) | {"batch", "group_id", "max_workers"}
    assert set(reference) - ours == set()
    fields = {f.name: f.default for f in SubscriberConfig.__dataclass_fields__.values()}
    signature = inspect.signature(KafkaBroker.subscriber)
    for name, default in reference.items():
        if name in CONSUMER_OPTION_NAMES:
            continue  # handed to the consumer as given; the consumer's defaults apply
        if name in signature.parameters:
            ours_default = signature.parameters[name].default
        else:
            ours_default = fields[name]
        expected = {"EMPTY": None, "()": ()}.get(default, default)
        if isinstance(ours_default, tuple | type(None) | bool | int | str):
            assert repr(ours_default) == repr(eval(str(expected))), name


def test_consumer_options_reach_the_consumer_unchanged() -> None:
    sub = KafkaBroker().subscriber(
        "t", group_id="g", session_timeout_ms=6000, isolation_level="read_committed"
    )
    assert sub.config.consumer == {"session_timeout_ms": 6000, "isolation_level": "read_committed"}
