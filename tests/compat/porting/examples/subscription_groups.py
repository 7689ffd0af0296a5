"""Subscription: consumer groups and the offset reset policy, as a service sets them."""

import pytest
from faststream import FastStream
from faststream.kafka import KafkaBroker, TestKafkaBroker

broker = KafkaBroker("localhost:9092")
app = FastStream(broker)


@broker.subscriber("signups", group_id="mailer", auto_offset_reset="earliest")
async def send_welcome(email: str) -> None:
    pass


@broker.subscriber("signups", group_id="analytics", auto_offset_reset="earliest")
async def count_signup(email: str) -> None:
    pass


@pytest.mark.asyncio
async def test_each_group_gets_the_message() -> None:
    async with TestKafkaBroker(broker) as br:
        await br.publish("ann@example.com", "signups")
        send_welcome.mock.assert_called_once_with("ann@example.com")
        count_signup.mock.assert_called_once_with("ann@example.com")
