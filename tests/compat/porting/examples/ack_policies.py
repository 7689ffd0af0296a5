"""Ack: the acknowledgement policy, set per subscriber, with the `AckPolicy` enum."""

import pytest
from faststream import AckPolicy, FastStream
from faststream.kafka import KafkaBroker, TestKafkaBroker

broker = KafkaBroker("localhost:9092")
app = FastStream(broker)


@broker.subscriber("first", group_id="g1", ack_policy=AckPolicy.ACK_FIRST)
async def at_most_once(body: str) -> None:
    pass


@broker.subscriber("after", group_id="g2", ack_policy=AckPolicy.ACK)
async def at_least_once(body: str) -> None:
    pass


@broker.subscriber("nack", group_id="g3", ack_policy=AckPolicy.NACK_ON_ERROR)
async def retried_on_error(body: str) -> None:
    pass


def test_the_policy_values() -> None:
    assert {p.name for p in AckPolicy} >= {
        "ACK_FIRST",
        "ACK",
        "REJECT_ON_ERROR",
        "NACK_ON_ERROR",
        "MANUAL",
    }


@pytest.mark.asyncio
async def test_each_policy_handles_a_message() -> None:
    async with TestKafkaBroker(broker) as br:
        await br.publish("a", "first")
        await br.publish("b", "after")
        await br.publish("c", "nack")
        at_most_once.mock.assert_called_once_with("a")
        at_least_once.mock.assert_called_once_with("b")
        retried_on_error.mock.assert_called_once_with("c")
