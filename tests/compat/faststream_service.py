"""A FastStream 0.7 service for the wire-compatibility tests.

It runs with the Python of FastStream's own venv (see ``conftest.py``), never in
the project's venv, so it imports nothing from topicflow or from the tests.

    python faststream_service.py '{"bootstrap": "...", "topics": {...}, "group": "..."}'

What it receives is printed on stdout, one JSON object a line (``{"event": ...}``).
It takes commands on stdin, one JSON object a line:

- ``{"cmd": "publish", "topic", "body", "headers", "correlation_id"}``: publish an
  ``Order`` with FastStream's ``broker.publish``.
- ``{"cmd": "request", "topic", "body", "correlation_id"}``: ask another service
  for a reply. FastStream's ``broker.request()`` is tried first; when it reports
  that Kafka does not support it, the order is published with ``reply_to`` set to
  this service's reply topic, whose subscriber reports the reply.
- ``{"cmd": "stop"}``: stop the broker and exit.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from faststream.exceptions import FeatureNotSupportedException
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from pydantic import BaseModel


class Order(BaseModel):
    id: int
    item: str
    price: float


class Receipt(BaseModel):
    order_id: int
    total: float
    by: str


def emit(event: str, **fields: Any) -> None:
    """One event for the test, as a JSON line on stdout."""
    print(json.dumps({"event": event, **fields}), flush=True)


def seen(message: Any) -> dict[str, Any]:
    """What FastStream made of a record's metadata."""
    return {
        "headers": dict(message.headers),
        "correlation_id": message.correlation_id,
        "reply_to": message.reply_to,
    }


async def main(config: dict[str, Any]) -> None:
    topics = config["topics"]
    group = config["group"]
    # logger=None: FastStream's log lines would otherwise share stdout with the events.
    broker = KafkaBroker(config["bootstrap"], logger=None)
    early = {"auto_offset_reset": "earliest"}

    @broker.subscriber(topics["to_faststream"], group_id=f"{group}-in", **early)
    async def receive(order: Order, message: KafkaMessage) -> None:
        emit("received", body=order.model_dump(), **seen(message))

    @broker.subscriber(topics["faststream_rpc"], group_id=f"{group}-rpc", **early)
    async def serve(order: Order, message: KafkaMessage) -> Receipt:
        emit("served", body=order.model_dump(), **seen(message))
        return Receipt(order_id=order.id, total=order.price * order.id, by="faststream")

    @broker.subscriber(topics["faststream_replies"], group_id=f"{group}-replies", **early)
    async def reply(receipt: Receipt, message: KafkaMessage) -> None:
        emit("reply", via="reply_to", body=receipt.model_dump(), **seen(message))

    async def request(command: dict[str, Any]) -> None:
        order = Order(**command["body"])
        try:
            response = await broker.request(
                order, command["topic"], correlation_id=command["correlation_id"], timeout=30
            )
        except FeatureNotSupportedException as exc:
            emit("request_unsupported", error=str(exc))
        else:
            body = json.loads(response.body)
            emit("reply", via="request", body=body, **seen(response))
            return
        await broker.publish(
            order,
            command["topic"],
            correlation_id=command["correlation_id"],
            reply_to=topics["faststream_replies"],
        )
        emit("published", correlation_id=command["correlation_id"])

    await broker.start()
    emit("ready")
    try:
        while True:
            line = await asyncio.to_thread(sys.stdin.readline)
            if not line:  # the test went away
                return
            command = json.loads(line)
            if command["cmd"] == "stop":
                return
            if command["cmd"] == "publish":
                await broker.publish(
                    Order(**command["body"]),
                    command["topic"],
                    headers=command.get("headers"),
                    correlation_id=command.get("correlation_id"),
                )
                emit("published", correlation_id=command.get("correlation_id"))
            elif command["cmd"] == "request":
                await request(command)
            else:
                emit("error", error=f"unknown command {command!r}")
    finally:
        await broker.stop()


if __name__ == "__main__":
    asyncio.run(main(json.loads(sys.argv[1])))
