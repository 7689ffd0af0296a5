"""Dependencies: `apply_types` gives a plain function the same casting and `Depends`."""

import pytest
from faststream import Depends, FastStream, apply_types
from faststream.kafka import KafkaBroker, TestKafkaBroker

broker = KafkaBroker("localhost:9092")
app = FastStream(broker)
totals: list[int] = []


def tax_rate() -> int:
    return 20


@apply_types
def add_tax(amount: int, rate: int = Depends(tax_rate)) -> int:
    return amount + amount * rate // 100


@broker.subscriber("invoices")
async def on_invoice(amount: str) -> None:
    totals.append(add_tax(amount))  # "100" is cast to 100


def test_apply_types_casts_and_injects() -> None:
    assert add_tax("50") == 60


@pytest.mark.asyncio
async def test_it_works_inside_a_handler() -> None:
    async with TestKafkaBroker(broker) as br:
        await br.publish("100", "invoices")
    assert totals == [120]
