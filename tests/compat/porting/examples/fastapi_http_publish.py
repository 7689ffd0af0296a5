"""FastAPI integration: an HTTP endpoint publishes with `router.broker`."""

import httpx
import pytest
from fastapi import FastAPI
from faststream.kafka import TestKafkaBroker
from faststream.kafka.fastapi import KafkaRouter
from pydantic import BaseModel

router = KafkaRouter("localhost:9092")


class Signup(BaseModel):
    email: str


@router.subscriber("signups")
async def welcome(signup: Signup) -> None: ...


@router.post("/signups", status_code=202)
async def create(signup: Signup) -> dict[str, str]:
    await router.broker.publish(signup, "signups")
    return {"queued": signup.email}


app = FastAPI()
app.include_router(router)


@pytest.mark.asyncio
async def test_the_endpoint_publishes_to_the_subscriber() -> None:
    async with TestKafkaBroker(router.broker):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            response = await client.post("/signups", json={"email": "ann@example.com"})
        assert response.status_code == 202
        assert response.json() == {"queued": "ann@example.com"}
        welcome.mock.assert_called_once_with({"email": "ann@example.com"})
