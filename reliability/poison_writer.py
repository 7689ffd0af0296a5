"""Writes scenario 5's stream: valid records and poison records, half and half.

    AIOKAFKA_NO_EXTENSIONS=1 python -m reliability.poison_writer BOOTSTRAP TOPIC COUNT RATE OUT

Record ``i`` goes to partition ``i % 3``; even ones are valid (``{"id": i // 2}``),
odd ones are poison of four kinds in turn: a body that is not JSON, a body that
fails validation, a header key that is not UTF-8, and ``reply_to: not a topic!``.
OUT gets ``"<id> <unix time>"`` for each valid record, taken just before it is sent.

Kafka's record format allows any bytes in a header key, but aiokafka takes keys
as ``str`` and encodes them with ``key.encode("utf-8")``, which no ``str`` can
turn into invalid UTF-8. Its compiled record builder (the default) accepts
exact ``str`` only; its pure-Python builder, used when ``AIOKAFKA_NO_EXTENSIONS``
is set before aiokafka is imported, calls the key's own ``encode()``. So this
runs in a process of its own with that variable set, and gives the key as a
``str`` subclass whose ``encode()`` returns the raw bytes.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import TextIO

import aiokafka
from aiokafka.util import NO_EXTENSIONS

PARTITIONS = 3
KINDS = ("not JSON", "fails validation", "header key not UTF-8", "reply_to not a topic")
BAD_KEY = b"\xff\xfe-not-utf-8"


class RawKey(str):
    """A header key whose encoded form is ``raw``, whatever the encoding asked for."""

    raw: bytes

    def __new__(cls, raw: bytes) -> RawKey:
        key = super().__new__(cls, raw.decode("latin-1"))
        key.raw = raw
        return key

    def encode(self, encoding: str = "utf-8", errors: str = "strict") -> bytes:
        return self.raw


JSON_HEADER = ("content-type", b"application/json")


def record(i: int) -> tuple[int | None, bytes, list[tuple[str, bytes]]]:
    """(valid id or None, value, headers) of record ``i`` of the stream."""
    if i % 2 == 0:
        ident = i // 2
        return ident, json.dumps({"id": ident}).encode(), [JSON_HEADER]
    kind = KINDS[(i // 2) % len(KINDS)]
    poison_id = -10 - i  # a valid body, never counted among the valid ids
    if kind == "not JSON":
        return None, b"\xff\x00 not json", [JSON_HEADER]
    if kind == "fails validation":
        return None, json.dumps({"name": "no id"}).encode(), [JSON_HEADER]
    body = json.dumps({"id": poison_id}).encode()
    if kind == "header key not UTF-8":
        return None, body, [JSON_HEADER, (RawKey(BAD_KEY), b"x")]
    return None, body, [JSON_HEADER, ("reply_to", b"not a topic!")]


async def write(bootstrap: str, topic: str, count: int, rate: float, out: TextIO) -> None:
    producer = aiokafka.AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    async with asyncio.timeout(30):
        await producer.start()
    try:
        futures = []
        began = time.monotonic()
        sent = 0
        while sent < count:
            due = min(count, int((time.monotonic() - began) * rate) + 1)
            for i in range(sent, due):
                ident, value, headers = record(i)
                if ident is not None:
                    out.write(f"{ident} {time.time():.6f}\n")
                futures.append(
                    await producer.send(topic, value, partition=i % PARTITIONS, headers=headers)
                )
            sent = due
            await asyncio.sleep(0.005)
        async with asyncio.timeout(60):
            await asyncio.gather(*futures)
    finally:
        await producer.stop()


def main(argv: list[str]) -> int:
    if not NO_EXTENSIONS:
        print("poison_writer: set AIOKAFKA_NO_EXTENSIONS=1 (see the docstring)", file=sys.stderr)
        return 2
    bootstrap, topic, count, rate, path = argv
    with open(path, "a", buffering=1) as out:
        asyncio.run(write(bootstrap, topic, int(count), float(rate), out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
