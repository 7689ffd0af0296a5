"""Checked by mypy (scripts/test), not run: the overloads give each call its kind."""

from __future__ import annotations

from typing import assert_type

from topicflow.kafka import (
    BatchSubscriber,
    ConcurrentBetweenPartitionsSubscriber,
    ConcurrentDefaultSubscriber,
    DefaultSubscriber,
    KafkaBroker,
)

broker = KafkaBroker()
assert_type(broker.subscriber("t"), DefaultSubscriber)
assert_type(broker.subscriber("t", group_id="g", session_timeout_ms=6000), DefaultSubscriber)
assert_type(broker.subscriber("t", batch=True, max_records=10), BatchSubscriber)
assert_type(broker.subscriber("t", max_workers=4), ConcurrentDefaultSubscriber)
assert_type(
    broker.subscriber("t", group_id="g", max_workers=4), ConcurrentBetweenPartitionsSubscriber
)
