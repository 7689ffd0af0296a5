"""Context: the `Logger` annotation gives the framework's logger to the handler."""

import pytest
from faststream import FastStream, Logger
from faststream.kafka import KafkaBroker, TestKafkaBroker

broker = KafkaBroker("localhost:9092")
app = FastStream(broker)


@broker.subscriber("jobs")
@broker.publisher("job-log")
async def handle(job: str, logger: Logger) -> str:
    logger.info("working on %s", job)
    logger.debug("details of %s", job)
    return f"{job} logged"


@pytest.mark.asyncio
async def test_the_logger_is_injected_not_read_from_the_body() -> None:
    async with TestKafkaBroker(broker) as br:
        await br.publish("job-7", "jobs")
        handle.mock.assert_called_once_with("job-7")
