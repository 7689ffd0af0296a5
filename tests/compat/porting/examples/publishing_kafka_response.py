"""Publishing: a `KafkaResponse` sets the key of what the handler publishes."""

import pytest
from faststream import FastStream
from faststream.kafka import KafkaBroker, KafkaResponse, TestKafkaBroker
from faststream.kafka.annotations import KafkaMessage

broker = KafkaBroker("localhost:9092")
app = FastStream(broker)
keys: list[bytes] = []


@broker.subscriber("clicks")
@broker.publisher("clicks-by-user")
async def route(click: dict) -> KafkaResponse:
    return KafkaResponse(click, key=click["user"].encode())


@broker.subscriber("clicks-by-user")
async def per_user(click: dict, msg: KafkaMessage) -> None:
    keys.append(msg.raw_message.key)


@pytest.mark.asyncio
async def test_the_key_is_the_user() -> None:
    async with TestKafkaBroker(broker) as br:
        await br.publish({"user": "u-3", "page": "/"}, "clicks")
        per_user.mock.assert_called_once_with({"user": "u-3", "page": "/"})
    assert keys == [b"u-3"]
