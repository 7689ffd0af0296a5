"""Testing: a handler's exception comes out of `publish` under the test broker."""

import pytest
from faststream import FastStream
from faststream.kafka import KafkaBroker, TestKafkaBroker

broker = KafkaBroker("localhost:9092")
app = FastStream(broker)


@broker.subscriber("withdrawals")
async def withdraw(amount: int) -> None:
    if amount <= 0:
        raise ValueError("the amount must be positive")


@pytest.mark.asyncio
async def test_a_bad_amount_raises() -> None:
    async with TestKafkaBroker(broker) as br:
        with pytest.raises(ValueError, match="positive"):
            await br.publish(-5, "withdrawals")
        withdraw.mock.assert_called_once_with(-5)


@pytest.mark.asyncio
async def test_a_good_amount_does_not() -> None:
    async with TestKafkaBroker(broker) as br:
        await br.publish(5, "withdrawals")
