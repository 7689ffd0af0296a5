"""Publishing: a `Response` carries headers and a correlation id with the body."""

from typing import Any

import pytest
from faststream import FastStream, Response
from faststream.kafka import KafkaBroker, TestKafkaBroker
from faststream.kafka.annotations import KafkaMessage

broker = KafkaBroker("localhost:9092")
app = FastStream(broker)
received: dict[str, Any] = {}


@broker.subscriber("tasks")
@broker.publisher("task-results")
async def work(task: str) -> Response:
    return Response(f"{task}: done", headers={"x-worker": "w1"}, correlation_id="job-9")


@broker.subscriber("task-results")
async def on_result(body: str, msg: KafkaMessage) -> None:
    received.update(body=body, worker=msg.headers["x-worker"], cid=msg.correlation_id)


@pytest.mark.asyncio
async def test_headers_travel_with_the_response() -> None:
    async with TestKafkaBroker(broker) as br:
        await br.publish("resize", "tasks")
    assert received == {"body": "resize: done", "worker": "w1", "cid": "job-9"}
