"""Publishing: keys, read back through `Context("message.raw_message.key")`."""

import pytest
from faststream import Context, FastStream
from faststream.kafka import KafkaBroker, TestKafkaBroker

broker = KafkaBroker("localhost:9092")
app = FastStream(broker)
keys: list[bytes] = []


@broker.subscriber("by-key")
async def on_keyed(body: str, key: bytes = Context("message.raw_message.key")) -> None:
    keys.append(key)


@pytest.mark.asyncio
async def test_the_key_is_kept() -> None:
    async with TestKafkaBroker(broker) as br:
        await br.publish("a", "by-key", key=b"customer-1")
        await br.publish("b", "by-key", key=b"customer-2")
    assert keys == [b"customer-1", b"customer-2"]
