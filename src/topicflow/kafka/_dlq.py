"""Reading a dead-letter topic: ``topicflow dlq show`` and ``topicflow dlq replay``.

Both use the app's broker (its connection settings) and a subscriber made at
run time, without a handler (``get_one``). ``replay`` consumes in a consumer
group of its own (``topicflow-dlq-replay`` unless told otherwise) under
``AckPolicy.MANUAL``: a record is acked, and its offset committed, only once
its copy was confirmed on the target topic, so a second run replays nothing
twice and a failed run resumes where it stopped. ``show`` uses no group and
commits nothing. Both stop after ``limit`` records, or once no record came for
``idle`` seconds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from topicflow.ack import AckPolicy
from topicflow.exceptions import SetupError
from topicflow.kafka._retry import (
    ATTEMPTS,
    EXCEPTION_MESSAGE,
    EXCEPTION_TYPE,
    ORIGINAL_OFFSET,
    ORIGINAL_PARTITION,
    ORIGINAL_TOPIC,
    OWN_PREFIX,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

    from topicflow.kafka.broker.broker import KafkaBroker
    from topicflow.kafka.message import KafkaMessage

__all__ = ["REPLAY_GROUP", "describe", "replay", "show"]

#: The consumer group whose committed offsets are ``dlq replay``'s progress.
REPLAY_GROUP = "topicflow-dlq-replay"


def _text(msg: KafkaMessage, name: str) -> str:
    for key, value in msg.raw_message.headers:
        if key == name:
            return value.decode(errors="replace")
    return "?"


def describe(msg: KafkaMessage) -> str:
    """One line about a dead-lettered record: where it is, where it came from, why."""
    record = msg.raw_message
    return (
        f"{record.topic}[{record.partition}]@{record.offset} "
        f"from {_text(msg, ORIGINAL_TOPIC)}[{_text(msg, ORIGINAL_PARTITION)}]"
        f"@{_text(msg, ORIGINAL_OFFSET)} attempts={_text(msg, ATTEMPTS)} "
        f"{_text(msg, EXCEPTION_TYPE)}: {_text(msg, EXCEPTION_MESSAGE)}"
    )


async def _records(
    broker: KafkaBroker, topic: str, group: str | None, limit: int | None, idle: float
) -> AsyncIterator[KafkaMessage]:
    sub = broker.subscriber(
        topic,
        group_id=group,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.MANUAL,
        persistent=False,
        include_in_schema=False,
    )
    await sub.start()
    try:
        count = 0
        while limit is None or count < limit:
            msg = await sub.get_one(timeout=idle)
            if msg is None:
                return
            count += 1
            yield msg
    finally:
        await sub.stop()


async def show(
    broker: KafkaBroker, topic: str, *, limit: int | None, idle: float, echo: Callable[[str], None]
) -> int:
    """Print each record of ``topic`` (one line each); returns how many."""
    shown = 0
    async with broker:
        async for msg in _records(broker, topic, None, limit, idle):
            echo(describe(msg))
            shown += 1
    return shown


async def replay(
    broker: KafkaBroker,
    topic: str,
    *,
    to: str | None,
    limit: int | None,
    idle: float,
    group: str = REPLAY_GROUP,
    echo: Callable[[str], None],
) -> int:
    """Publish the records of ``topic`` not replayed yet to their original topic (or
    ``to``), with their key, value and user headers; returns how many."""
    replayed = 0
    async with broker:
        transport = broker._connected_transport()  # the raw record, headers as they are
        async for msg in _records(broker, topic, group, limit, idle):
            record = msg.raw_message
            target = to or _text(msg, ORIGINAL_TOPIC)
            if target == "?":
                raise SetupError(
                    f"{record.topic}[{record.partition}]@{record.offset} has no "
                    f"{ORIGINAL_TOPIC} header: name the target with --to TOPIC"
                )
            headers = [(k, v) for k, v in record.headers if not k.startswith(OWN_PREFIX)]
            future = await transport.send(
                target,
                record.value,
                key=record.key,
                partition=None,
                timestamp_ms=None,
                headers=headers,
            )
            await transport.confirm(target, future)
            await msg.ack()  # committed when the subscriber stops (or at its next commit)
            echo(f"replayed {describe(msg)} -> {target}")
            replayed += 1
    return replayed
