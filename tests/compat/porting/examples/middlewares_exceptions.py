"""Middlewares: `ExceptionMiddleware` turns handler errors into handled outcomes."""

import pytest
from faststream import ExceptionMiddleware, FastStream
from faststream.kafka import KafkaBroker, TestKafkaBroker

handled: list[str] = []
exc_middleware = ExceptionMiddleware()


@exc_middleware.add_handler(ValueError)
async def on_value_error(exc: ValueError) -> None:
    handled.append(f"value error: {exc}")


@exc_middleware.add_handler(KeyError, publish=True)
async def on_key_error(exc: KeyError) -> str:
    return "fallback"


broker = KafkaBroker("localhost:9092", middlewares=[exc_middleware])
app = FastStream(broker)


@broker.subscriber("risky")
@broker.publisher("risky-results")
async def risky(body: str) -> str:
    if body == "bad-value":
        raise ValueError("no good")
    if body == "bad-key":
        raise KeyError(body)
    return body


@broker.subscriber("risky-results")
async def results(body: str) -> None:
    pass


@pytest.mark.asyncio
async def test_errors_are_handled_not_raised() -> None:
    async with TestKafkaBroker(broker) as br:
        await br.publish("bad-value", "risky")
        await br.publish("bad-key", "risky")
        results.mock.assert_called_once_with("fallback")
    assert handled == ["value error: no good"]
