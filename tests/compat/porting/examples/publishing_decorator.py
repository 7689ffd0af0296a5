"""Publishing: `@broker.publisher` sends the handler's return value, to two topics."""

import pytest
from faststream import FastStream
from faststream.kafka import KafkaBroker, TestKafkaBroker

broker = KafkaBroker("localhost:9092")
app = FastStream(broker)
to_audit = broker.publisher("audit-log")


@broker.subscriber("commands")
@broker.publisher("results")
@to_audit
async def run(command: str) -> str:
    return command.upper()


@broker.subscriber("results")
async def on_result(result: str) -> None:
    pass


@pytest.mark.asyncio
async def test_the_result_goes_to_both_topics() -> None:
    async with TestKafkaBroker(broker) as br:
        await br.publish("start", "commands")
        on_result.mock.assert_called_once_with("START")
        to_audit.mock.assert_called_once_with("START")
