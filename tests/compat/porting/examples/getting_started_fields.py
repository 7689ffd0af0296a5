"""Getting started: several handler parameters are the fields of one JSON object."""

import pytest
from faststream import FastStream
from faststream.kafka import KafkaBroker, TestKafkaBroker

broker = KafkaBroker("localhost:9092")
app = FastStream(broker)
seen: list[tuple[str, int]] = []


@broker.subscriber("user-events")
async def on_user(name: str, user_id: int) -> None:
    seen.append((name, user_id))


@pytest.mark.asyncio
async def test_fields_are_taken_from_the_object() -> None:
    async with TestKafkaBroker(broker) as br:
        await br.publish({"name": "Ann", "user_id": "7"}, "user-events")
        on_user.mock.assert_called_once_with({"name": "Ann", "user_id": "7"})
    assert seen == [("Ann", 7)]  # "7" was cast to int
