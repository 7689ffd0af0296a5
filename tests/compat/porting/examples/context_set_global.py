"""Context: values set globally on the application's context reach every handler."""

import pytest
from faststream import Context, FastStream
from faststream.kafka import KafkaBroker, TestKafkaBroker

broker = KafkaBroker("localhost:9092")
app = FastStream(broker)
app.context.set_global("greeting", "Hello")
out: list[str] = []


@broker.subscriber("names")
async def greet(name: str, greeting: str = Context()) -> None:
    out.append(f"{greeting}, {name}")


@pytest.mark.asyncio
async def test_the_global_is_injected_by_its_name() -> None:
    async with TestKafkaBroker(broker) as br:
        await br.publish("Ann", "names")
    assert out == ["Hello, Ann"]
