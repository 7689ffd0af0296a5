"""Testing: `TestApp` runs the application's hooks around the test broker."""

import pytest
from faststream import Context, ContextRepo, FastStream, TestApp
from faststream.kafka import KafkaBroker, TestKafkaBroker

broker = KafkaBroker("localhost:9092")
app = FastStream(broker)
events: list[str] = []


@app.on_startup
async def connect_db(context: ContextRepo) -> None:
    context.set_global("db", {"users": 0})
    events.append("startup")


@app.on_shutdown
async def close_db() -> None:
    events.append("shutdown")


@broker.subscriber("new-users")
async def add_user(name: str, db: dict = Context()) -> None:
    db["users"] += 1


@pytest.mark.asyncio
async def test_the_app_runs_its_hooks() -> None:
    async with TestKafkaBroker(app.broker) as br, TestApp(app):
        await br.publish("ann", "new-users")
        add_user.mock.assert_called_once_with("ann")
        assert app.context.get("db") == {"users": 1}
    assert events == ["startup", "shutdown"]
