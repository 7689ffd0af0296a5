"""Getting started: bodies as text, bytes and plain dicts."""

from typing import Any

import pytest
from faststream import FastStream
from faststream.kafka import KafkaBroker, TestKafkaBroker

broker = KafkaBroker("localhost:9092")
app = FastStream(broker)
got: dict[str, Any] = {}


@broker.subscriber("as-text")
async def as_text(body: str) -> None:
    got["text"] = body


@broker.subscriber("as-bytes")
async def as_bytes(body: bytes) -> None:
    got["bytes"] = body


@broker.subscriber("as-dict")
async def as_dict(body: dict[str, Any]) -> None:
    got["dict"] = body


@pytest.mark.asyncio
async def test_each_body_type() -> None:
    async with TestKafkaBroker(broker) as br:
        await br.publish("plain text", "as-text")
        await br.publish(b"\x00\x01raw", "as-bytes")
        await br.publish({"a": 1, "b": [1, 2]}, "as-dict")
    assert got == {"text": "plain text", "bytes": b"\x00\x01raw", "dict": {"a": 1, "b": [1, 2]}}
