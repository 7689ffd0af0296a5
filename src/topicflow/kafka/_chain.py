"""A consume path inside its middlewares: the middlewares step of a pipeline.

A middleware (``BaseMiddleware`` and FastStream's kind) is a factory called per
message: ``middleware(record, context=...)`` makes the object whose
``on_receive``, ``consume_scope`` and ``after_processed`` run around that one
message. :func:`wrap_consume` puts a call inside such a list.

A middleware may instead turn the call into another once, at start
(:class:`ConsumeWrapper`: ``consume_wrapper(call) -> call``), as the pipeline
itself is built. When every middleware of a subscriber can, and it has no
parser, the chain is folded at start and nothing is made per message;
otherwise each is used as a factory like any other (so a wrapper must be one
as well). ``KafkaPrometheusMiddleware`` is such a middleware.
"""

from __future__ import annotations

import contextlib
import functools
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, runtime_checkable

from topicflow.exceptions import DecodeError

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

    from topicflow._context import ContextRepo
    from topicflow.kafka.message import KafkaMessage

__all__ = ["ConsumeWrapper", "parse_step", "raw_record", "wrap_consume"]

X = TypeVar("X")


@runtime_checkable
class ConsumeWrapper(Protocol):
    """A middleware that wraps a subscriber's call once, at start."""

    def consume_wrapper(
        self, call: Callable[[KafkaMessage], Awaitable[Any]]
    ) -> Callable[[KafkaMessage], Awaitable[Any]]:
        """``call`` (message -> the handler's result) inside this middleware."""


def wrap_consume(
    call: Callable[[Any], Awaitable[Any]],
    middlewares: Sequence[Any],
    context: ContextRepo,
    *,
    raw: Callable[[X], Any],
    prepare: Callable[[X], Awaitable[Any]],
) -> Callable[[X], Awaitable[Any]]:
    """``call`` inside the middlewares, the first outermost.

    Per message (or batch) ``x``: every middleware is made with ``raw(x)`` and
    entered (``on_receive``), outermost first; ``prepare(x)`` gives what
    ``call`` takes (the parsed message; a batch's bodies), which goes through
    their ``consume_scope`` chain; on the way out each one's ``after_processed``
    may suppress an exception.

    When ``x`` is the message itself (no parser, not a batch) and every middleware
    is a :class:`ConsumeWrapper`, their wrappers are folded around ``call`` now.
    """
    if prepare is _same and all(isinstance(m, ConsumeWrapper) for m in middlewares):
        for middleware in reversed(middlewares):
            call = middleware.consume_wrapper(call)
        return call

    async def wrapped(x: X) -> Any:
        async with contextlib.AsyncExitStack() as stack:
            record = raw(x)
            scopes = [
                await stack.enter_async_context(middleware(record, context=context))
                for middleware in middlewares
            ]
            step = call
            for scope in reversed(scopes):
                step = functools.partial(scope.consume_scope, step)
            return await step(await prepare(x))

    return wrapped


def raw_record(msg: KafkaMessage) -> Any:
    """What a middleware is made with, for one message: the client's record."""
    return msg.raw_message


def parse_step(
    parser: Callable[[Any], Awaitable[KafkaMessage]] | None,
) -> Callable[[KafkaMessage], Awaitable[KafkaMessage]]:
    """The message the handler gets: the custom parser's, whose decisions count for
    the message being handled; without a parser, the message itself."""
    if parser is None:
        return _same

    async def parse(msg: KafkaMessage) -> KafkaMessage:
        record = msg.raw_message
        try:
            parsed = await parser(record)
        except DecodeError:
            raise
        except Exception as exc:
            raise DecodeError(
                f"topic={record.topic} partition={record.partition} offset={record.offset}: "
                f"the parser failed: {exc!r}"
            ) from exc
        if parsed is not msg:
            parsed.settle = msg.decide
        return parsed

    return parse


async def _same(msg: KafkaMessage) -> KafkaMessage:
    return msg
