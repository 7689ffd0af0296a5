"""Testing: a body that does not fit the handler's model raises pydantic's error."""

import pytest
from faststream import FastStream
from faststream.kafka import KafkaBroker, TestKafkaBroker
from pydantic import BaseModel, ValidationError

broker = KafkaBroker("localhost:9092")
app = FastStream(broker)


class Signup(BaseModel):
    email: str
    age: int


@broker.subscriber("signups")
async def on_signup(signup: Signup) -> None:
    pass


@pytest.mark.asyncio
async def test_an_invalid_body_is_refused() -> None:
    async with TestKafkaBroker(broker) as br:
        with pytest.raises(ValidationError):
            await br.publish({"email": "a@b.c", "age": "old"}, "signups")
