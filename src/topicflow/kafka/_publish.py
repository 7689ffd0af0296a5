"""Publishing, at the bottom: the options of a publish, the command it becomes, and sending it.

Every publish (``broker.publish``, a publisher object, a handler's return value
sent by ``@publisher``, a reply, ``request()``) ends in :func:`send` (or, where
nothing watches publishes, in :func:`send_one` directly). The keyword options
of a publish are written once, as :class:`PublishOptions`. This module imports
nothing else of ``topicflow.kafka`` but the transport's types, the futures of
:mod:`topicflow.kafka._futures` and the rule of topic names (a name Kafka
would refuse fails at once, not after a timeout).
"""

from __future__ import annotations

import itertools
import os
from typing import TYPE_CHECKING, Any, TypedDict

from topicflow._codec import JSON, TEXT, encode_body, encode_key
from topicflow._command import HeaderValue, PublishCommand
from topicflow.exceptions import PublishError
from topicflow.kafka._futures import Confirmation
from topicflow.kafka.topic import topic_name_problem

if TYPE_CHECKING:
    import asyncio
    from collections.abc import Awaitable, Callable, Mapping

    from topicflow.kafka._seam import Transport

__all__ = [
    "PublishCommand",
    "PublishOptions",
    "RequestOptions",
    "check_topic",
    "encode_record",
    "new_correlation_id",
    "send",
    "send_one",
    "send_with",
    "set_id_generator",
]

Headers = list[tuple[str, bytes]]
Record = tuple[bytes | None, bytes | None, Headers]  # value, key, headers

#: Topic names published to and found valid (cleared when it grows past _CHECKED_MAX).
_checked_topics: set[str] = set()
_CHECKED_MAX = 10_000

#: The content-type header of each content type encode_body() gives, built once.
_CONTENT_TYPE_HEADERS = {
    JSON: ("content-type", JSON.encode()),
    TEXT: ("content-type", TEXT.encode()),
}


class RequestOptions(TypedDict, total=False):
    """The keyword options of ``request()``: those of a publish but ``reply_to``.

    Attributes:
        key: the record key (``bytes`` as is, ``str`` as UTF-8, else its JSON).
        partition: the partition; else the key's, else the partitioner's choice.
        timestamp_ms: the record timestamp; else the producer's clock.
        headers: added to the framework's own (``content-type``, ``correlation_id``).
        correlation_id: generated when not given.
    """

    key: Any
    partition: int | None
    timestamp_ms: int | None
    headers: Mapping[str, HeaderValue] | None
    correlation_id: str | None


class PublishOptions(RequestOptions, total=False):
    """The keyword options of every publish, besides the body, topic and ``no_confirm``.

    Attributes:
        reply_to: the topic a service that handles the record replies to.
    """

    reply_to: str


def set_id_generator(generator: Callable[[], str] | None) -> None:
    """Make ``generator()`` the correlation id of publishes that give none (None: ours)."""
    global _id_generator
    _id_generator = generator


def new_correlation_id() -> str:
    """A fresh correlation id: 32 hex digits, the shape of ``uuid4().hex``, or what
    ``KafkaBroker(id_generator=...)`` makes.

    A random prefix drawn once per process (again in a forked child) and a
    counter: unique without a system call per publish (``uuid4()`` reads
    ``os.urandom`` each time, which cost more than the rest of a
    fire-and-forget publish). A correlation id matches a reply to its request;
    it is not a secret.
    """
    if _id_generator is not None:
        return _id_generator()
    return f"{_id_prefix}{next(_id_counter):016x}"


def _new_id_prefix() -> None:
    global _id_prefix, _id_counter
    _id_prefix = os.urandom(8).hex()
    _id_counter = itertools.count()


_id_generator: Callable[[], str] | None = None
_id_prefix = ""
_id_counter = itertools.count()
_new_id_prefix()
os.register_at_fork(after_in_child=_new_id_prefix)


def encode_record(
    body: Any,
    correlation_id: str,
    *,
    key: Any = None,
    reply_to: str = "",
    headers: Mapping[str, HeaderValue] | None = None,
) -> Record:
    """The wire form of one body: value, key and headers (FastStream-compatible)."""
    value, content_type = encode_body(body)
    cid = ("correlation_id", correlation_id.encode())
    wire: Headers = [cid] if content_type is None else [_CONTENT_TYPE_HEADERS[content_type], cid]
    if reply_to:
        wire.append(("reply_to", reply_to.encode()))
    if headers:
        for name, header in headers.items():
            wire.append((name, header.encode() if isinstance(header, str) else header))
    return value, None if key is None else encode_key(key), wire


def send_one(
    transport: Transport,
    topic: str,
    body: Any,
    correlation_id: str,
    *,
    key: Any = None,
    partition: int | None = None,
    timestamp_ms: int | None = None,
    headers: Mapping[str, HeaderValue] | None = None,
    reply_to: str = "",
) -> Awaitable[asyncio.Future[Any]]:
    """Encode one body and queue it: ``await send_one(...)`` gives the future of the
    cluster's confirmation.

    A plain function that returns the transport's own coroutine: a publish
    where nothing watches goes through no coroutine of ours but its caller's.
    """
    if topic not in _checked_topics:
        check_topic(topic)
    value, raw_key, wire = encode_record(
        body, correlation_id, key=key, reply_to=reply_to, headers=headers
    )
    if value is None and raw_key is None:
        raise PublishError(
            f"publishing None to {topic!r} without a key: a Kafka record needs a "
            "value or a key. Pass key= for a tombstone, or b'' for an empty message."
        )
    return transport.send(
        topic, value, key=raw_key, partition=partition, timestamp_ms=timestamp_ms, headers=wire
    )


def check_topic(topic: str) -> None:
    """Raise PublishError at once for a topic name Kafka would refuse (the client
    would retry it until ``request_timeout_ms``)."""
    problem = topic_name_problem(topic)
    if problem is not None:
        raise PublishError(f"cannot publish to {topic!r}: {problem}")
    if len(_checked_topics) >= _CHECKED_MAX:
        _checked_topics.clear()
    _checked_topics.add(topic)


def send_with(
    transport: Transport, topic: str, body: Any, options: PublishOptions
) -> Awaitable[asyncio.Future[Any]]:
    """:func:`send_one` with a publish's keyword ``options`` (none: the defaults)."""
    if not options:
        return send_one(transport, topic, body, new_correlation_id())
    return send_one(
        transport,
        topic,
        body,
        options.get("correlation_id") or new_correlation_id(),
        key=options.get("key"),
        partition=options.get("partition"),
        timestamp_ms=options.get("timestamp_ms"),
        headers=options.get("headers"),
        reply_to=options.get("reply_to", ""),
    )


async def send(transport: Transport, cmd: PublishCommand) -> Any:
    """Encode ``cmd`` and hand it to the transport: the end of every publish chain.

    Returns the record's metadata once the cluster acknowledged it, or, with
    ``no_confirm``, the future of that metadata as soon as it is queued. A
    batch returns the metadata of its first record (or its future). Either
    fails with a :class:`~topicflow.PublishError`.
    """
    correlation_id = cmd.correlation_id or new_correlation_id()
    if cmd.batch is not None:
        if cmd.topic not in _checked_topics:
            check_topic(cmd.topic)
        records = [
            encode_record(
                body, correlation_id, key=cmd.key, reply_to=cmd.reply_to, headers=cmd.headers
            )
            for body in cmd.batch
        ]
        future = await transport.send_batch(
            cmd.topic, records, partition=cmd.partition, timestamp_ms=cmd.timestamp_ms
        )
    else:
        future = await send_one(
            transport,
            cmd.topic,
            cmd.body,
            correlation_id,
            key=cmd.key,
            partition=cmd.partition,
            timestamp_ms=cmd.timestamp_ms,
            headers=cmd.headers,
            reply_to=cmd.reply_to,
        )
    if cmd.no_confirm:
        return Confirmation(transport, cmd.topic, future)
    return await transport.confirm(cmd.topic, future)
