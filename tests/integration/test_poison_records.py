"""Records that cannot become messages are poison: logged once, finished, and passed."""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest

from tests.helpers import committed_offsets, eventually, write_raw
from topicflow.exceptions import PublishError
from topicflow.kafka import KafkaBroker
from topicflow.kafka.message import KafkaMessage

pytestmark = pytest.mark.kafka

KINDS: dict[str, dict[str, Any]] = {
    "default": {},
    "concurrent": {"max_workers": 2},
    "batch": {"batch": True},
}


def _poison_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "poison message" in r.getMessage()]


@pytest.mark.parametrize("kind", KINDS)
async def test_a_header_key_that_is_not_utf8_is_poison_and_nothing_around_it_is_lost(
    bootstrap: str,
    topic: str,
    group: str,
    create_topic: Any,
    caplog: pytest.LogCaptureFixture,
    kind: str,
) -> None:
    caplog.set_level(logging.ERROR, logger="topicflow")
    await create_topic(topic, 2)
    # Partition 0: 0-9. Partition 1: 100-109, the record at offset 5 has a key b"\xff\xfe".
    records = [(0, b"%d" % n, []) for n in range(10)]
    for n in range(10):
        headers = [(b"\xff\xfex", b"v")] if n == 5 else [(b"trace", b"t")]
        records.append((1, b"%d" % (100 + n), headers))
    await write_raw(bootstrap, topic, records)

    handled: list[int] = []
    broker = KafkaBroker(bootstrap)
    options = {"group_id": group, "auto_offset_reset": "earliest", **KINDS[kind]}
    if kind == "batch":

        @broker.subscriber(topic, **options)
        async def many(ns: list[int]) -> None:
            handled.extend(ns)
    else:

        @broker.subscriber(topic, **options)
        async def one(n: int) -> None:
            handled.append(n)

    expected = sorted([*range(10), *(100 + n for n in range(10) if n != 5)])
    async with broker:
        await broker.start()
        await eventually(lambda: len(handled) >= len(expected), timeout=30)
    assert sorted(handled) == expected  # each valid record once, before and after it
    lines = _poison_lines(caplog)
    assert len(lines) == 1, lines
    assert f"topic={topic} partition=1 offset=5" in lines[0]
    assert "header key is not valid UTF-8" in lines[0]
    offsets = await committed_offsets(bootstrap, group)
    assert {tp.partition: offset for tp, offset in offsets.items()} == {0: 10, 1: 10}


@pytest.mark.parametrize("compression", [None, "gzip"])
async def test_the_records_after_an_unreadable_one_in_its_batch_are_handled(
    bootstrap: str,
    topic: str,
    group: str,
    caplog: pytest.LogCaptureFixture,
    compression: str | None,
) -> None:
    # One producer request: the client reads a batch in order and cannot get past the
    # bad records within it; topicflow reads the rest of the batch from its bytes.
    caplog.set_level(logging.ERROR, logger="topicflow")
    bad = [(b"\xff", b"v")]
    await write_raw(
        bootstrap,
        topic,
        [(0, b"%d" % n, bad if n in (3, 5) else [(b"trace", b"t%d" % n)]) for n in range(8)],
        one_batch=True,
        compression=compression,
    )
    await write_raw(bootstrap, topic, [(0, b"%d" % n, []) for n in range(8, 10)])
    handled: list[tuple[int, int, dict[str, str | bytes]]] = []
    broker = KafkaBroker(bootstrap)

    @broker.subscriber(topic, group_id=group, auto_offset_reset="earliest")
    async def one(n: int, msg: KafkaMessage) -> None:
        handled.append((n, msg.offset, msg.headers))

    async with broker:
        await broker.start()
        await eventually(lambda: len(handled) >= 8, timeout=30)
    assert [n for n, _, _ in handled] == [0, 1, 2, 4, 6, 7, 8, 9]
    assert [offset for _, offset, _ in handled] == [0, 1, 2, 4, 6, 7, 8, 9]
    assert handled[3][2] == {"trace": "t4"}  # read from the batch's bytes, headers and all
    lines = _poison_lines(caplog)
    assert len(lines) == 2, lines
    assert "offset=3" in lines[0]
    assert "offset=5" in lines[1]
    assert sum((await committed_offsets(bootstrap, group)).values()) == 10


async def test_a_reply_to_kafka_would_refuse_is_poison_at_once(
    bootstrap: str, topic: str, group: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="topicflow")
    handled: list[int] = []
    broker = KafkaBroker(bootstrap)

    @broker.subscriber(topic, group_id=group, auto_offset_reset="earliest")
    async def echo(n: int) -> int:
        handled.append(n)
        return n

    async with broker:
        await broker.start()
        await broker.publish(1, topic, headers={"reply_to": "not a topic!"})
        await broker.publish(2, topic)
        began = time.monotonic()
        await eventually(lambda: handled == [2], timeout=30)
        waited = time.monotonic() - began
    assert handled == [2]  # the poison one never reached the handler
    assert waited < 5, f"the partition stalled {waited:.1f}s behind the bad reply_to"
    lines = _poison_lines(caplog)
    assert len(lines) == 1, lines
    assert "offset=0" in lines[0]
    assert "'not a topic!' is not a Kafka topic name" in lines[0]
    assert sum((await committed_offsets(bootstrap, group)).values()) == 2


async def test_a_correlation_id_that_is_not_text_is_poison_before_the_handler_runs(
    bootstrap: str, topic: str, group: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="topicflow")
    await write_raw(
        bootstrap,
        topic,
        [(0, b"1", [(b"correlation_id", b"\xff\xfe")]), (0, b"2", [(b"correlation_id", b"ok")])],
    )
    handled: list[int] = []
    broker = KafkaBroker(bootstrap)

    @broker.subscriber(topic, group_id=group, auto_offset_reset="earliest")
    @broker.publisher(f"{topic}-out")
    async def forward(n: int) -> int:
        handled.append(n)
        return n

    async with broker:
        await broker.start()
        await eventually(lambda: handled == [2], timeout=30)
    lines = _poison_lines(caplog)
    assert len(lines) == 1, lines
    assert "offset=0" in lines[0]
    assert "correlation_id header is not UTF-8" in lines[0]


async def test_a_header_value_that_does_not_fit_its_type_is_poison(
    bootstrap: str, topic: str, group: str, caplog: pytest.LogCaptureFixture
) -> None:
    from topicflow import Header

    caplog.set_level(logging.ERROR, logger="topicflow")
    await write_raw(
        bootstrap, topic, [(0, b"1", [(b"tenant", b"\xff")]), (0, b"2", [(b"tenant", b"acme")])]
    )
    seen: list[tuple[int, str]] = []
    broker = KafkaBroker(bootstrap)

    @broker.subscriber(topic, group_id=group, auto_offset_reset="earliest")
    async def handle(n: int, tenant: str = Header()) -> None:
        seen.append((n, tenant))

    async with broker:
        await broker.start()
        await eventually(lambda: seen == [(2, "acme")], timeout=30)
    lines = _poison_lines(caplog)
    assert len(lines) == 1, lines
    assert "offset=0" in lines[0]


async def test_publishing_to_a_name_kafka_would_refuse_fails_at_once(
    bootstrap: str, topic: str, group: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="topicflow")
    broker = KafkaBroker(bootstrap)
    failed: list[KafkaMessage] = []

    @broker.subscriber(topic, group_id=group, auto_offset_reset="earliest")
    @broker.publisher("bad name!")
    async def forward(n: int, msg: KafkaMessage) -> int:
        failed.append(msg)
        return n

    async with broker:
        await broker.start()
        began = time.monotonic()
        with pytest.raises(PublishError, match="'bad name!' is not a Kafka topic name"):
            await broker.publish(1, "bad name!")
        with pytest.raises(PublishError, match="at most 249 characters"):
            await broker.publish(1, "x" * 250)
        assert time.monotonic() - began < 1
        await broker.publish(1, topic)
        await eventually(lambda: "'bad name!' is not a Kafka topic name" in caplog.text)
