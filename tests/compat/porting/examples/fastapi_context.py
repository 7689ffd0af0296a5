"""FastAPI integration: `Context`, `KafkaMessage` and headers, in handlers and in dependencies."""

from typing import Annotated, Any

import pytest
from fastapi import Depends, FastAPI, Header
from faststream.kafka import TestKafkaBroker
from faststream.kafka.fastapi import Context, KafkaMessage, KafkaRouter, Logger

router = KafkaRouter("localhost:9092")
app = FastAPI()
app.include_router(router)
seen: list[Any] = []


def tenant(x_tenant: Annotated[str, Header()], logger: Logger) -> str:
    logger.info("tenant %s", x_tenant)
    return x_tenant.upper()


def source_topic(message: KafkaMessage) -> str:
    return message.raw_message.topic


@router.subscriber("events")
async def handle(
    body: dict[str, Any],
    message: KafkaMessage,
    who: Annotated[str, Depends(tenant)],
    where: Annotated[str, Depends(source_topic)],
    broker: Any = Context("broker"),
) -> None:
    seen.append((body, who, where, message.headers["x-tenant"], broker is router.broker))


@pytest.mark.asyncio
async def test_context_and_headers_reach_handler_and_dependencies() -> None:
    async with TestKafkaBroker(router.broker) as br:
        await br.publish({"kind": "login"}, "events", headers={"x-tenant": "acme"})
    assert seen == [({"kind": "login"}, "ACME", "events", "acme", True)]
