"""FastAPI integration: a router's handler takes FastAPI's `Depends`, tested on its broker."""

from typing import Annotated

import pytest
from fastapi import Depends, FastAPI
from faststream.kafka import TestKafkaBroker
from faststream.kafka.fastapi import KafkaRouter, Logger
from pydantic import BaseModel

router = KafkaRouter("localhost:9092")
app = FastAPI()
app.include_router(router)


class Order(BaseModel):
    id: int
    qty: int


def get_prices() -> dict[int, float]:
    return {1: 2.5, 2: 4.0}


async def get_discount(prices: Annotated[dict[int, float], Depends(get_prices)]) -> float:
    return 0.5 if len(prices) > 1 else 1.0


@router.subscriber("orders")
@router.publisher("totals")
async def total(
    order: Order,
    logger: Logger,
    prices: Annotated[dict[int, float], Depends(get_prices)],
    discount: float = Depends(get_discount),
) -> float:
    logger.info("pricing order %s", order.id)
    return prices[order.id] * order.qty * discount


@router.subscriber("totals")
async def record(value: float) -> None: ...


@pytest.mark.asyncio
async def test_dependencies_are_resolved_in_the_handler() -> None:
    async with TestKafkaBroker(router.broker) as br:
        await br.publish({"id": 2, "qty": 3}, "orders")
        total.mock.assert_called_once_with({"id": 2, "qty": 3})
        record.mock.assert_called_once_with(6.0)
