"""A subscriber's consume path, folded once at start into one pipeline.

A pipeline is ``async (message) -> Outcome``: everything that happens to one
consumed message between the subscriber's dispatcher (which fetched it) and its
offset bookkeeping (:meth:`topicflow.ack.PartitionTracker.settle`). It is built
by :func:`build_pipeline` from the subscriber's resolved settings, innermost
first::

    dispatch        handler chosen by filter= (first match), called; its result
                    published by its @publisher(s), and sent to reply_to
    middlewares     (if any) each one's on_receive, then the parser, then their
                    consume_scope around dispatch, outermost first
    outcome         what an exception means (poison, AckMessage, ..., the
                    policy's error outcome) or what the message decided;
                    one access-log line

With no middleware, no parser and one handler whose result goes nowhere (the
most common subscriber), the three steps are one coroutine around the
handler's own call (``_inlined``, which also reads the body itself for a plain
``async def`` handler). Batch subscribers fold their own pipeline from the same
parts (``wrap_consume``, ``kafka._failures.Failures``).
"""

from __future__ import annotations

import dataclasses
import inspect
import logging
from typing import TYPE_CHECKING, Any, TypeVar

from topicflow._body import BODY_ERRORS, decode_error
from topicflow.ack import AckPolicy, Outcome
from topicflow.exceptions import (
    DecodeError,
    IgnoredException,
    SubscriberNotFound,
)
from topicflow.kafka._chain import parse_step, raw_record, wrap_consume
from topicflow.kafka._failures import HANDLED, Failures, record_failure
from topicflow.kafka._publish import PublishCommand
from topicflow.middlewares import ExceptionMiddleware
from topicflow.response import PublishType, Response

if TYPE_CHECKING:
    import asyncio
    from collections.abc import Awaitable, Callable, Sequence

    from topicflow._context import ContextRepo
    from topicflow._di import BatchPlan, HandlerPlan
    from topicflow.kafka.message import KafkaMessage
    from topicflow.kafka.publisher import DefaultPublisher

__all__ = [
    "Handler",
    "PipelineSettings",
    "build_pipeline",
    "chosen_handler",
    "custom_callable",
    "wrap_consume",
]

X = TypeVar("X")
#: Key of the chosen handler in ``msg.scratch`` (only set with several handlers).
_CHOSEN = "topicflow.handler"


class Handler:
    """One handler of a subscriber, with what is resolved for it at start."""

    __slots__ = ("call", "filter", "plan", "publishers")

    def __init__(
        self, plan: HandlerPlan | BatchPlan, filter: Callable[[KafkaMessage], Any] | None
    ) -> None:
        self.plan = plan
        self.filter = filter
        #: The call resolved at start (decoder, dependencies, context).
        self.call: Callable[[Any], Awaitable[Any]] = plan.call
        self.publishers: tuple[DefaultPublisher, ...] = ()


@dataclasses.dataclass(frozen=True, slots=True)
class PipelineSettings:
    """What a subscriber resolved at start, as its pipeline uses it."""

    handlers: tuple[Handler, ...]
    policy: AckPolicy
    middlewares: tuple[Any, ...]
    context: ContextRepo
    #: A custom parser (record -> message), already as ``async f(record)``.
    parser: Callable[[Any], Awaitable[KafkaMessage]] | None
    #: Sends a reply through the middlewares; None with ``no_reply=True``.
    reply: Callable[[PublishCommand], Awaitable[Any]] | None
    failures: Failures
    #: True when publishes of a handler's result are not awaited: the message goes
    #: PENDING with them in ``msg.unconfirmed``, and the next message goes on.
    defer_confirmations: bool


def chosen_handler(msg: KafkaMessage) -> Handler | None:
    """The handler ``filter=`` chose for ``msg`` (recorded only with several handlers)."""
    return msg.scratch.get(_CHOSEN)


def build_pipeline(settings: PipelineSettings) -> Callable[[KafkaMessage], Awaitable[Outcome]]:
    """Fold a subscriber's settings into its pipeline (once, at start)."""
    failures = settings.failures
    handlers = settings.handlers
    name_of = _name_of(handlers, failures.owner)
    sole = handlers[0] if len(handlers) == 1 and handlers[0].filter is None else None
    dispatch = _dispatcher(settings, sole)
    replies = settings.reply is not None
    lean = not settings.middlewares and settings.parser is None
    if lean and sole is not None and not sole.publishers:
        # One handler whose result goes nowhere (but a reply): no dispatch step but
        # for messages that ask for a reply.
        direct = getattr(sole.plan, "direct", None)
        if direct is not None and sole.call is sole.plan.call:
            name = f"handler {sole.plan.func.__qualname__} of {failures.owner}"
            return _inlined(direct, dispatch, replies, failures, name)
        call = _call_or_reply(sole.call, dispatch) if replies else sole.call
        return _with_outcome(call, failures, name_of)
    call = dispatch
    if settings.middlewares or settings.parser is not None:
        call = wrap_consume(
            dispatch,
            settings.middlewares,
            settings.context,
            raw=raw_record,
            prepare=parse_step(settings.parser),
        )
    return _with_outcome(call, failures, name_of)


def _call_or_reply(
    call: Callable[[KafkaMessage], Awaitable[Any]],
    dispatch: Callable[[KafkaMessage], Awaitable[Any]],
) -> Callable[[KafkaMessage], Awaitable[Any]]:
    """The handler's call, or for a message that asks for a reply the dispatch that
    sends it: a plain function that returns their awaitable (no coroutine of its own)."""

    def step(msg: KafkaMessage) -> Awaitable[Any]:
        return dispatch(msg) if _asks_reply(msg.raw_message.headers) else call(msg)

    return step


def _inlined(
    direct: tuple[Callable[[Any], Any], Callable[[Any], Awaitable[Any]]],
    dispatch: Callable[[KafkaMessage], Awaitable[Any]],
    replies: bool,
    failures: Failures,
    name: str,
) -> Callable[[KafkaMessage], Awaitable[Outcome]]:
    """The whole pipeline of one plain ``async def`` handler (``HandlerPlan.direct``)
    in one coroutine: the record read, then the handler's own coroutine awaited,
    with no call of ours between; the dispatch only for a message asking a reply."""
    read, func = direct
    done = failures.done
    access = failures.access if failures.access_level is not None else None

    async def pipeline(msg: KafkaMessage) -> Outcome:
        try:
            record = msg.raw_message
            if replies and _asks_reply(record.headers):
                await dispatch(msg)
            else:
                try:
                    value = read(record)
                except BODY_ERRORS as exc:
                    raise decode_error(msg, exc) from exc
                await func(value)
        except HANDLED as exc:
            outcome = failures.outcome(exc, msg, name)
        else:
            status = msg.status
            outcome = done if status is None else status
        if access is not None:
            access(msg, outcome)
        return outcome

    return pipeline


def _with_outcome(
    call: Callable[[KafkaMessage], Awaitable[Any]],
    failures: Failures,
    handler_name: Callable[[KafkaMessage], str],
) -> Callable[[KafkaMessage], Awaitable[Outcome]]:
    done = failures.done
    access = failures.access if failures.access_level is not None else None

    async def pipeline(msg: KafkaMessage) -> Outcome:
        try:
            await call(msg)
        except HANDLED as exc:
            outcome = failures.outcome(exc, msg, handler_name(msg))
        else:
            status = msg.status
            outcome = done if status is None else status
        if access is not None:
            access(msg, outcome)
        return outcome

    return pipeline


def _dispatcher(
    settings: PipelineSettings, sole: Handler | None
) -> Callable[[KafkaMessage], Awaitable[Any]]:
    """Choose the handler, call it, publish what it returned, reply."""
    handlers = settings.handlers
    reply = settings.reply
    defer = settings.defer_confirmations
    failures = settings.failures
    catchers = tuple(m for m in settings.middlewares if isinstance(m, ExceptionMiddleware))

    async def dispatch(msg: KafkaMessage) -> Any:
        handler = sole if sole is not None else await _choose(handlers, msg)
        if handler is None:
            failures.log(
                logging.WARNING,
                "no handler of %s accepts %s; skipped",
                failures.owner,
                msg.message_id,
            )
            msg.decide(Outcome.SKIP)
            record_failure(msg, SubscriberNotFound(f"no handler of {failures.owner} accepts it"))
            return None
        # Before the handler runs: a reply_to or correlation id that could not be used
        # afterwards makes the message poison (DecodeError), with nothing done yet.
        replies = reply is not None and _asks_reply(msg.raw_message.headers)
        reply_to = msg.reply_to if replies else ""
        correlation_id = msg.correlation_id if (replies or handler.publishers) else ""
        if not catchers:
            result = await handler.call(msg)
        else:
            try:
                result = await handler.call(msg)
            except (IgnoredException, DecodeError):
                raise  # decisions and poison are never an ExceptionMiddleware's
            except Exception as exc:
                result = await _caught(exc, catchers)
        if result is not None and handler.publishers:
            if not defer:
                for publisher in handler.publishers:
                    await publisher.publish_result(result, correlation_id)
            else:
                unconfirmed: list[asyncio.Future[Any]] = []
                for publisher in handler.publishers:
                    await publisher.publish_result(result, correlation_id, unconfirmed)
                if unconfirmed:
                    msg.unconfirmed = unconfirmed
                    msg.decide(Outcome.PENDING)
        if replies:
            assert reply is not None
            await _send_reply(reply, reply_to, correlation_id, result)
        return result

    return dispatch


async def _caught(exc: Exception, catchers: Sequence[ExceptionMiddleware]) -> Any:
    """The result standing for a handler that raised ``exc``, from the first
    ExceptionMiddleware with a handler of its type; else ``exc`` goes on."""
    for catcher in catchers:
        took, result = await catcher.handle(exc)
        if took:
            return result
    raise exc


def _asks_reply(headers: Sequence[tuple[str, bytes]]) -> bool:
    """True when a record has a non-empty ``reply_to`` header (read without decoding)."""
    for name, value in headers:  # noqa: SIM110  # a plain loop: any() over a generator costs more
        if name == "reply_to" and value:
            return True
    return False


async def _choose(handlers: Sequence[Handler], msg: KafkaMessage) -> Handler | None:
    for handler in handlers:
        if handler.filter is None:
            chosen: Handler | None = handler
            break
        accepted = handler.filter(msg)
        if inspect.isawaitable(accepted):
            accepted = await accepted
        if accepted:
            chosen = handler
            break
    else:
        chosen = None
    msg.scratch[_CHOSEN] = chosen  # for the error log line of several handlers
    return chosen


def _name_of(handlers: Sequence[Handler], owner: str) -> Callable[[KafkaMessage], str]:
    """Which handler a failure belongs to, for the error log line."""
    only = handlers[0] if len(handlers) == 1 else None

    def name(msg: KafkaMessage) -> str:
        chosen = msg.scratch.get(_CHOSEN, only)
        if chosen is None:
            return f"a handler of {owner}"
        return f"handler {chosen.plan.func.__qualname__} of {owner}"

    return name


async def _send_reply(
    reply: Callable[[PublishCommand], Awaitable[Any]],
    reply_to: str,
    correlation_id: str,
    result: Any,
) -> None:
    # None is replied as an empty value: a caller waiting on request() gets an answer.
    body, headers, key = (b"" if result is None else result), {}, None
    if isinstance(result, Response):
        body, headers, key = result.body, result.headers, getattr(result, "key", None)
        correlation_id = result.correlation_id or correlation_id
    kind = PublishType.REPLY
    cmd = PublishCommand(body, topic=reply_to, key=key, headers=headers, publish_type=kind)
    cmd.correlation_id = correlation_id
    await reply(cmd)


def custom_callable(func: Callable[..., Any], original: Callable[[Any], Awaitable[Any]]) -> Any:
    """A user parser/decoder as ``async f(x)``: ``func(x)`` or ``func(x, original)``."""
    takes_original = len(inspect.signature(func).parameters) >= 2

    async def call(value: Any) -> Any:
        result = func(value, original) if takes_original else func(value)
        if inspect.isawaitable(result):
            result = await result
        return result

    return call
