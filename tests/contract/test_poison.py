"""Contract: a message the handler's types cannot take is logged once and skipped."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from tests.contract.conftest import Backend
from topicflow.kafka import TopicPartition


class Order(BaseModel):
    id: int
    item: str


@pytest.mark.parametrize(
    ("annotation", "poison", "good", "reason"),
    [
        (str, b"\xff\xfe not utf-8", "fine", "not valid UTF-8"),
        (Order, b'{"id": 1, "item": ', Order(id=2, item="ok"), "Invalid JSON"),
        (Order, {"id": "seven", "item": "x"}, Order(id=2, item="ok"), "valid integer"),
    ],
    ids=["invalid-utf8", "broken-json", "schema"],
)
async def test_poison_is_logged_once_and_the_partition_moves_on(
    backend: Backend,
    topic: str,
    group: str,
    caplog: pytest.LogCaptureFixture,
    annotation: Any,
    poison: Any,
    good: Any,
    reason: str,
) -> None:
    broker = backend.broker()
    handled: list[Any] = []
    sub = broker.subscriber(topic, group_id=group, auto_offset_reset="earliest")

    async def handle(body: Any) -> None:
        handled.append(body)

    handle.__annotations__ = {"body": annotation, "return": None}
    sub(handle)

    caplog.set_level(logging.ERROR, logger="topicflow")
    async with backend.run(broker) as br:
        # Raised into the test's publish as the validation raised it, as FastStream's
        # test client does.
        with pytest.raises((ValidationError, UnicodeDecodeError)):
            await br.publish(poison, topic)
        await br.publish(good, topic)
        sub.mock.assert_called_once()  # type: ignore[attr-defined]

    assert handled == [good]  # the handler never saw the poison
    errors = [r.getMessage() for r in caplog.records if r.name == "topicflow"]
    assert len(errors) == 1, errors
    assert f"topic={topic} partition=0 offset=0" in errors[0]
    assert reason in errors[0]
    # Finished like any message: committed, never delivered again.
    assert await backend.committed(group) == {TopicPartition(topic, 0): 2}
