"""Publishing is idempotent by default (as Kafka's clients are since 3.0), and acks=1
says what it needs."""

from __future__ import annotations

import pytest

from tests.helpers import producer_ids
from topicflow import SetupError
from topicflow.kafka import KafkaBroker


@pytest.mark.kafka
async def test_the_default_producer_is_idempotent_on_the_wire(bootstrap: str, topic: str) -> None:
    async with KafkaBroker(bootstrap) as broker:
        await broker.publish(1, topic)
        await broker.publish(2, topic)
    ids = await producer_ids(bootstrap, topic)
    assert len(ids) == 2
    assert all(pid >= 0 for pid in ids)  # the cluster gave the producer an id
    assert len(set(ids)) == 1


@pytest.mark.kafka
async def test_acks_1_publishes_without_idempotence(bootstrap: str, topic: str) -> None:
    async with KafkaBroker(bootstrap, acks=1, enable_idempotence=False) as broker:
        metadata = await broker.publish(1, topic)
    assert metadata.offset == 0
    assert await producer_ids(bootstrap, topic) == [-1]


@pytest.mark.parametrize("acks", [1, 0])
def test_acks_below_all_with_the_default_names_both_options(acks: int) -> None:
    with pytest.raises(SetupError) as info:
        KafkaBroker("127.0.0.1:9092", acks=acks)  # type: ignore[arg-type]
    message = str(info.value)
    assert f"acks={acks}" in message
    assert "enable_idempotence=False" in message
    assert "(the default)" in message


def test_a_transactional_id_needs_acks_all_too() -> None:
    with pytest.raises(SetupError, match="transactional_id"):
        KafkaBroker("127.0.0.1:9092", acks=1, enable_idempotence=False, transactional_id="t")
    with pytest.raises(SetupError, match="is not one of"):
        KafkaBroker("127.0.0.1:9092", acks="some")  # type: ignore[arg-type]
