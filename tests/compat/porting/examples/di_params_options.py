"""Dependencies: `Context(initial=...)`, `Header(cast=False)` and `Depends(cast_result=True)`."""

from typing import Annotated, Any

import pytest
from faststream import Context, Depends, FastStream, Header
from faststream.kafka import KafkaBroker, TestKafkaBroker

broker = KafkaBroker("localhost:9092")
app = FastStream(broker)
seen: list[Any] = []


def raw_attempt(attempt: int = Header("attempt", cast=False)) -> Any:
    return attempt


def attempt_number(attempt: str = Header("attempt")) -> int:
    return attempt  # type: ignore[return-value]


@broker.subscriber("params-in")
async def handle(
    body: str,
    names: Annotated[list[str], Context("names", initial=list)],
    raw: Any = Depends(raw_attempt),
    number: int = Depends(attempt_number, cast_result=True),
) -> None:
    names.append(body)
    seen.append((list(names), raw, number))


@pytest.mark.asyncio
async def test_params_options() -> None:
    async with TestKafkaBroker(broker) as br:
        await br.publish("a", "params-in", headers={"attempt": "1"})
        await br.publish("b", "params-in", headers={"attempt": "2"})
    assert seen == [(["a"], "1", 1), (["a", "b"], "2", 2)]
