"""Dependencies: a dependency of a dependency, computed once per message."""

import pytest
from faststream import Depends, FastStream, Header
from faststream.kafka import KafkaBroker, TestKafkaBroker

broker = KafkaBroker("localhost:9092")
app = FastStream(broker)
calls: list[str] = []
results: list[tuple[str, bool]] = []


def get_user(user: str = Header()) -> dict:
    calls.append("get_user")
    return {"name": user, "admin": user == "root"}


def is_admin(user: dict = Depends(get_user)) -> bool:
    return user["admin"]


@broker.subscriber("actions")
async def act(action: str, user: dict = Depends(get_user), admin: bool = Depends(is_admin)) -> None:
    results.append((user["name"], admin))


@pytest.mark.asyncio
async def test_the_shared_dependency_runs_once() -> None:
    async with TestKafkaBroker(broker) as br:
        await br.publish("reboot", "actions", headers={"user": "root"})
    assert results == [("root", True)]
    assert calls == ["get_user"]
