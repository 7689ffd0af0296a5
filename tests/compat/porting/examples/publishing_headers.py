"""Publishing: headers, and a handler that reads one with `Header()`."""

import pytest
from faststream import FastStream, Header
from faststream.kafka import KafkaBroker, TestKafkaBroker

broker = KafkaBroker("localhost:9092")
app = FastStream(broker)
tenants: list[str] = []


@broker.subscriber("tenant-events")
async def on_event(body: str, tenant: str = Header()) -> None:
    tenants.append(tenant)


@pytest.mark.asyncio
async def test_the_header_is_injected() -> None:
    async with TestKafkaBroker(broker) as br:
        await br.publish("created", "tenant-events", headers={"tenant": "acme"})
        on_event.mock.assert_called_once_with("created")
    assert tenants == ["acme"]
