"""Routers: `dependencies=` on a router apply to each of its subscribers."""

import pytest
from faststream import Depends, FastStream, Header
from faststream.kafka import KafkaBroker, KafkaRouter, TestKafkaBroker

seen_versions: list[str] = []


def require_version(version: str = Header()) -> None:
    seen_versions.append(version)


router = KafkaRouter(prefix="v2.", dependencies=[Depends(require_version)])


@router.subscriber("orders")
async def orders(body: str) -> None:
    pass


@router.subscriber("refunds")
async def refunds(body: str) -> None:
    pass


broker = KafkaBroker("localhost:9092")
broker.include_router(router)
app = FastStream(broker)


@pytest.mark.asyncio
async def test_the_router_dependency_runs_for_each() -> None:
    async with TestKafkaBroker(broker) as br:
        await br.publish("o", "v2.orders", headers={"version": "2.0"})
        await br.publish("r", "v2.refunds", headers={"version": "2.1"})
    assert seen_versions == ["2.0", "2.1"]
