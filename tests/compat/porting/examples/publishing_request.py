"""Publishing: request/reply under the test broker."""

import pytest
from faststream import FastStream
from faststream.kafka import KafkaBroker, TestKafkaBroker

broker = KafkaBroker("localhost:9092")
app = FastStream(broker)


@broker.subscriber("ping")
async def pong(body: str) -> str:
    return f"pong: {body}"


@pytest.mark.asyncio
async def test_the_reply_comes_back() -> None:
    async with TestKafkaBroker(broker) as br:
        response = await br.request("hello", "ping")
        assert await response.decode() == "pong: hello"
        assert response.correlation_id
