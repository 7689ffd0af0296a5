"""Dependencies: `Depends` runs a function and passes its result to the handler."""

import pytest
from faststream import Depends, FastStream
from faststream.kafka import KafkaBroker, TestKafkaBroker

broker = KafkaBroker("localhost:9092")
app = FastStream(broker)
seen: list[str] = []


def get_currency() -> str:
    return "EUR"


async def get_rate(currency: str = Depends(get_currency)) -> float:
    return 1.1 if currency == "EUR" else 1.0


@broker.subscriber("prices")
async def convert(
    price: float,
    currency: str = Depends(get_currency),
    rate: float = Depends(get_rate),
) -> None:
    seen.append(f"{price * rate:.2f} {currency}")


@pytest.mark.asyncio
async def test_dependencies_are_resolved() -> None:
    async with TestKafkaBroker(broker) as br:
        await br.publish(10.0, "prices")
        convert.mock.assert_called_once_with(10.0)
    assert seen == ["11.00 EUR"]
