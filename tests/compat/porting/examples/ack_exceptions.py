"""Ack: raising `AckMessage`, `NackMessage` or `RejectMessage` ends the handling early."""

import pytest
from faststream import AckPolicy, FastStream
from faststream.exceptions import AckMessage, NackMessage, RejectMessage
from faststream.kafka import KafkaBroker, TestKafkaBroker

broker = KafkaBroker("localhost:9092")
app = FastStream(broker)
reached: list[str] = []


def check(body: str) -> None:
    if body == "ack":
        raise AckMessage()
    if body == "reject":
        raise RejectMessage()


@broker.subscriber("decisions", group_id="dec", ack_policy=AckPolicy.REJECT_ON_ERROR)
async def handle(body: str) -> None:
    check(body)  # raised from a nested call, as the docs show
    reached.append(body)


@broker.subscriber("nacks", group_id="nk", ack_policy=AckPolicy.MANUAL)
async def nack_once(body: str) -> None:
    raise NackMessage()


@pytest.mark.asyncio
async def test_the_exceptions_do_not_escape() -> None:
    async with TestKafkaBroker(broker) as br:
        await br.publish("ack", "decisions")
        await br.publish("reject", "decisions")
        await br.publish("go on", "decisions")
        assert handle.mock.call_count == 3
    assert reached == ["go on"]
