"""Getting started: a pydantic model as the body, and the answer published on."""

import pytest
from faststream import FastStream
from faststream.kafka import KafkaBroker, TestKafkaBroker
from pydantic import BaseModel, Field, PositiveInt

broker = KafkaBroker("localhost:9092")
app = FastStream(broker)


class User(BaseModel):
    user: str = Field(..., examples=["John"])
    user_id: PositiveInt = Field(..., examples=[1])


@broker.subscriber("in-users")
@broker.publisher("out-users")
async def greet(data: User) -> str:
    return f"Hello, {data.user} ({data.user_id})"


@broker.subscriber("out-users")
async def collect(greeting: str) -> None:
    pass


@pytest.mark.asyncio
async def test_a_user_is_greeted() -> None:
    async with TestKafkaBroker(broker) as br:
        await br.publish(User(user="John", user_id=1), "in-users")
        greet.mock.assert_called_once_with({"user": "John", "user_id": 1})
        collect.mock.assert_called_once_with("Hello, John (1)")
