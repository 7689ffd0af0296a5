"""Dependencies: `dependencies=` on the subscriber, run for their effect."""

import pytest
from faststream import Depends, FastStream, Header
from faststream.kafka import KafkaBroker, TestKafkaBroker

broker = KafkaBroker("localhost:9092")
app = FastStream(broker)
checked: list[str] = []


def check_token(token: str = Header()) -> None:
    if token != "secret":
        raise PermissionError("bad token")
    checked.append(token)


@broker.subscriber("secure", dependencies=[Depends(check_token)])
async def handle(body: str) -> None:
    pass


@pytest.mark.asyncio
async def test_the_dependency_guards_the_handler() -> None:
    async with TestKafkaBroker(broker) as br:
        await br.publish("ok", "secure", headers={"token": "secret"})
        handle.mock.assert_called_once_with("ok")
        with pytest.raises(PermissionError):
            await br.publish("no", "secure", headers={"token": "guess"})
    assert checked == ["secret"]
