"""One message through a subscriber: record -> message -> middlewares -> handler -> ack.

In order::

    middlewares' on_receive                  (per message instances, outermost first)
      parser(record) -> KafkaMessage          a parse failure makes it poison
      middlewares' consume_scope
        handler chosen by filter=             first match wins
        plan.call(msg)                        arguments built, body validated, handler awaited
        publishers / reply                    the return value, if any
    middlewares' after_processed              may suppress the handler's exception
    -> outcome                                AckPolicy, or AckMessage/NackMessage/RejectMessage
    -> loop.finish() / loop.rewind()          offsets committed later, in batches

``ConsumerLoop`` (``_loop.py``) fetches and hands each batch to ``_process``;
``Subscriber`` (``_subscriber.py``) resolves the settings used here at start.
"""

from __future__ import annotations

import contextlib
import enum
import functools
import inspect
import logging
from typing import TYPE_CHECKING, Any

from topicflow.ack import AckPolicy
from topicflow.exceptions import AckMessage, DecodeError, NackMessage, RejectMessage
from topicflow.kafka.message import ACKED, NACKED, REJECTED, KafkaMessage
from topicflow.kafka.publisher import PublishCommand
from topicflow.response import Response

if TYPE_CHECKING:
    import asyncio
    import re
    from collections.abc import Awaitable, Callable, Mapping, Sequence

    from topicflow._context import ContextRepo
    from topicflow._di import BatchPlan, HandlerPlan
    from topicflow.ack import PartitionTracker
    from topicflow.kafka._loop import ConsumerLoop
    from topicflow.kafka._options import SubscriberConfig
    from topicflow.kafka._transport import ConsumerRecord, TopicPartition
    from topicflow.kafka.publisher import DefaultPublisher

    Batches = Mapping[TopicPartition, Sequence[ConsumerRecord[bytes, bytes]]]

__all__ = ["Handler", "MessageHandling", "custom_callable", "settle"]

#: What a handler error means under each policy (MANUAL: nothing, the handler decides).
ON_ERROR: dict[AckPolicy, str | None] = {
    AckPolicy.ACK_FIRST: ACKED,
    AckPolicy.ACK: ACKED,
    AckPolicy.REJECT_ON_ERROR: REJECTED,
    AckPolicy.NACK_ON_ERROR: NACKED,
    AckPolicy.MANUAL: None,
}
#: Key of the chosen handler in ``msg.scratch`` (only set with several handlers).
_CHOSEN = "topicflow.handler"


class _Tracker(enum.Enum):
    #: ``_handle``'s default: look the partition's tracker up (callers that have it pass it).
    LOOK_UP = enum.auto()


class Handler:
    """One handler of a subscriber, with what is resolved for it at start."""

    __slots__ = ("call", "filter", "plan", "publishers")

    def __init__(
        self, plan: HandlerPlan | BatchPlan, filter: Callable[[KafkaMessage], Any] | None
    ) -> None:
        self.plan = plan
        self.filter = filter
        self.call: Callable[[KafkaMessage], Awaitable[Any]] | None = None
        self.publishers: tuple[DefaultPublisher, ...] = ()


class MessageHandling:
    """How a subscriber handles fetched records, one message at a time.

    The base of ``Subscriber``, which sets these attributes (most at start, in
    ``bind``) and hands ``_process`` to its consumer loops.
    """

    config: SubscriberConfig
    _handlers: list[Handler]
    #: The handler when there is only one, without a filter.
    _sole: Handler | None
    #: That handler when it has no publishers either (its result goes nowhere).
    _direct: Handler | None
    #: No middlewares and no custom parser.
    _lean: bool
    _policy: AckPolicy
    _replies: bool
    _reply: Callable[[PublishCommand], Awaitable[Any]] | None
    _middlewares: tuple[Any, ...]
    _context: ContextRepo | None
    _parse: Callable[[Any], Awaitable[KafkaMessage]] | None
    _path_regex: re.Pattern[str] | None
    _paths: dict[str, Mapping[str, str]]
    _logger: logging.Logger | None
    _access_level: int | None

    async def _process(self, loop: ConsumerLoop, batches: Batches) -> None:
        """Handle a fetched batch one message at a time, in partition order."""
        epoch = loop.epoch
        if self._lean and self._direct is not None and self._policy is not AckPolicy.MANUAL:
            await self._process_direct(loop, batches, epoch, self._direct)
            return
        handle = self._handle
        for tp, records in batches.items():
            tracker = loop.tracker(tp)  # once per partition, not per message
            for record in records:
                if not (loop.running and loop.epoch == epoch):  # loop.active(epoch), inlined
                    return
                if not await handle(loop, tp, record, tracker):
                    break

    async def _process_direct(
        self, loop: ConsumerLoop, batches: Batches, epoch: int, handler: Handler
    ) -> None:
        """``_process`` + ``_handle`` in one loop, for the most common subscriber: one
        handler whose result goes nowhere, no middlewares, no parser, not MANUAL.

        The steps and outcomes are exactly ``_handle``'s; what it saves is a
        coroutine and a call per message, a good part of the framework's cost.
        Each message is finished before the next starts, so finishing one only
        moves its partition's position (``PartitionTracker.advance``), and the
        committer hears of the finished messages once per partition.
        """
        call = handler.call
        assert call is not None
        policy = self._policy
        ack_first = policy is AckPolicy.ACK_FIRST
        replies = self._replies
        # Without a pattern there are no path values to look up: build the message directly.
        message = KafkaMessage if self._path_regex is None else self._message
        access = self._access_level is not None
        attempts = loop.attempts
        committer = loop.committer
        for tp, records in batches.items():
            tracker = loop.tracker(tp)
            advance = _nothing if tracker is None else tracker.advance
            finished = 0
            try:
                for record in records:
                    if not (loop.running and loop.epoch == epoch):  # loop.active(epoch)
                        return
                    offset = record.offset
                    if ack_first:
                        advance(offset)
                        finished += 1
                    msg: KafkaMessage | None = None
                    try:
                        msg = message(record)
                        if replies and record.headers and msg.raw_header("reply_to"):
                            await self._dispatch(msg)
                        else:
                            await call(msg)
                    except Exception as exc:
                        outcome = self._failed(exc, record, msg, policy)
                    else:
                        outcome = msg.status or ACKED
                    if access:
                        self._access(record, msg, outcome)
                    if ack_first:
                        continue
                    if outcome == NACKED:
                        loop.rewind(tp, offset)
                        break
                    advance(offset)
                    finished += 1
                    if attempts:  # a redelivered message made it: forget its count
                        attempts.pop((tp, offset), None)
            finally:
                if committer is not None:
                    committer.note_finished(finished)

    async def _handle(
        self,
        loop: ConsumerLoop,
        tp: TopicPartition,
        record: ConsumerRecord[bytes, bytes],
        tracker: PartitionTracker | _Tracker | None = _Tracker.LOOK_UP,
    ) -> bool:
        """Handle one record; False when its partition was rewound (skip the rest)."""
        offset = record.offset
        if tracker is _Tracker.LOOK_UP:
            tracker = loop.tracker(tp)
        if tracker is not None:
            tracker.begin(offset)
        policy = self._policy
        if policy is AckPolicy.ACK_FIRST:
            loop.finish(tp, offset, tracker)
        unconfirmed: list[asyncio.Future[Any]] | None = None
        if self._lean:
            # No middlewares and no parser: _run's steps without a coroutine of its own,
            # and the handler awaited directly when its result goes nowhere.
            msg: KafkaMessage | None = None
            try:
                msg = self._message(record)
                direct = self._direct
                if direct is not None and not (
                    self._replies and record.headers and msg.raw_header("reply_to")
                ):
                    await direct.call(msg)  # type: ignore[misc]
                else:
                    # Where no middleware watches publishes, a policy that finishes a
                    # message after an error too (ACK, REJECT_ON_ERROR) lets the next
                    # message go while the cluster confirms what this one published.
                    if policy is AckPolicy.ACK or policy is AckPolicy.REJECT_ON_ERROR:
                        unconfirmed = []
                    await self._dispatch(msg, unconfirmed)
            except Exception as exc:
                outcome = self._failed(exc, record, msg, policy)
            else:
                outcome = self._done(msg, policy)
        else:
            outcome, msg = await self._run(record, policy)
        if self._access_level is not None:
            self._access(record, msg, outcome)
        if policy is AckPolicy.ACK_FIRST:
            return True
        if outcome is None:
            # MANUAL and undecided: the message stays unfinished until it is settled.
            if msg is not None:
                msg.settle = functools.partial(settle, loop, tp, offset)
            return True
        if outcome == NACKED:
            loop.rewind(tp, offset)
            return False
        if unconfirmed:
            loop.finish_when_confirmed(tp, offset, unconfirmed)
        else:
            loop.finish(tp, offset, tracker)
        return True

    async def _run(
        self, record: ConsumerRecord[bytes, bytes], policy: AckPolicy
    ) -> tuple[str | None, KafkaMessage | None]:
        """Parse, run middlewares and the handler; the outcome and the message."""
        msg: KafkaMessage | None = None
        try:
            if self._middlewares:
                async with contextlib.AsyncExitStack() as stack:
                    context = self._context
                    scopes = [
                        await stack.enter_async_context(middleware(record, context=context))
                        for middleware in self._middlewares
                    ]
                    msg = await self._parse_record(record)
                    call = self._dispatch
                    for scope in reversed(scopes):
                        call = functools.partial(scope.consume_scope, call)
                    await call(msg)
            else:
                msg = await self._parse_record(record)
                await self._dispatch(msg)
        except Exception as exc:
            return self._failed(exc, record, msg, policy), msg
        return self._done(msg, policy), msg

    def _done(self, msg: KafkaMessage | None, policy: AckPolicy) -> str | None:
        """The outcome of a message whose handling raised nothing."""
        if msg is not None and msg.status is not None:
            return msg.status
        return None if policy is AckPolicy.MANUAL else ACKED

    def _failed(
        self,
        exc: Exception,
        record: ConsumerRecord[bytes, bytes],
        msg: KafkaMessage | None,
        policy: AckPolicy,
    ) -> str | None:
        """The outcome of a message whose handling raised ``exc``."""
        if isinstance(exc, DecodeError):
            self._log(logging.ERROR, "poison message rejected, moving on: %s", exc)
            return REJECTED
        if isinstance(exc, AckMessage):
            return ACKED
        if isinstance(exc, NackMessage):
            return NACKED
        if isinstance(exc, RejectMessage):
            return REJECTED
        where = msg.message_id if msg is not None else f"offset {record.offset}"
        handler = self._handler_name(msg)
        self._log(logging.ERROR, "%s failed on %s: %r", handler, where, exc, exc_info=exc)
        return (msg.status if msg is not None else None) or ON_ERROR[policy]

    async def _parse_record(self, record: ConsumerRecord[bytes, bytes]) -> KafkaMessage:
        if self._parse is None:
            return self._message(record)
        try:
            msg = await self._parse(record)
        except DecodeError:
            raise
        except Exception as exc:
            raise DecodeError(
                f"topic={record.topic} partition={record.partition} offset={record.offset}: "
                f"the parser failed: {exc!r}"
            ) from exc
        return msg

    async def _default_parse(self, record: ConsumerRecord[bytes, bytes]) -> KafkaMessage:
        return self._message(record)

    def _message(self, record: ConsumerRecord[bytes, bytes]) -> KafkaMessage:
        if self._path_regex is None:
            return KafkaMessage(record)
        path = self._paths.get(record.topic)
        if path is None:
            match = self._path_regex.match(record.topic)
            path = self._paths[record.topic] = match.groupdict() if match else {}
        return KafkaMessage(record, path)

    async def _dispatch(
        self, msg: KafkaMessage, unconfirmed: list[asyncio.Future[Any]] | None = None
    ) -> Any:
        """Choose the handler, call it, publish what it returned.

        With ``unconfirmed``, what the publishers send is not waited for: the
        futures of the cluster's confirmations are appended there instead.
        """
        handler = self._sole
        if handler is None:
            handler = await self._choose(msg)
            if handler is None:
                self._log(
                    logging.WARNING, "no handler of %r accepts %s; acked", self, msg.message_id
                )
                return None
        assert handler.call is not None
        result = await handler.call(msg)
        if result is not None:
            for publisher in handler.publishers:
                await publisher.publish_result(result, msg.correlation_id, unconfirmed)
        if self._replies and msg.raw_message.headers and msg.raw_header("reply_to"):
            await self._send_reply(msg, result)
        return result

    async def _send_reply(self, msg: KafkaMessage, result: Any) -> None:
        assert self._reply is not None
        # None is replied as an empty value: a caller waiting on request() gets an answer.
        body = b"" if result is None else result
        cmd = PublishCommand(body=body, topic=msg.reply_to, correlation_id=msg.correlation_id)
        if isinstance(result, Response):
            cmd.body = result.body
            cmd.headers = result.headers
            cmd.correlation_id = result.correlation_id or msg.correlation_id
            cmd.key = getattr(result, "key", None)
        await self._reply(cmd)

    def _handler_name(self, msg: KafkaMessage | None) -> str:
        """Which handler a failure belongs to, for the error log line."""
        chosen = msg.scratch.get(_CHOSEN) if msg is not None and msg._scratch else None
        if chosen is None and len(self._handlers) == 1:
            chosen = self._handlers[0]
        if chosen is None:
            return f"a handler of {self!r}"
        return f"handler {chosen.plan.func.__qualname__} of {self!r}"

    async def _choose(self, msg: KafkaMessage) -> Handler | None:
        if len(self._handlers) > 1:  # remembered for the error log of several handlers
            handler = await self._first_accepting(msg)
            msg.scratch[_CHOSEN] = handler
            return handler
        return await self._first_accepting(msg)

    async def _first_accepting(self, msg: KafkaMessage) -> Handler | None:
        for handler in self._handlers:
            if handler.filter is None:
                return handler
            accepted = handler.filter(msg)
            if inspect.isawaitable(accepted):
                accepted = await accepted
            if accepted:
                return handler
        return None

    def _access(
        self, record: ConsumerRecord[bytes, bytes], msg: KafkaMessage | None, outcome: str | None
    ) -> None:
        """One access-log line: where the message was, its group and correlation id, and
        what became of it."""
        assert self._logger is not None
        assert self._access_level is not None
        self._logger.log(
            self._access_level,
            "%s-%d-%d group=%s correlation_id=%s: %s",
            record.topic,
            record.partition,
            record.offset,
            self.config.group_id,
            msg.correlation_id if msg is not None else "-",
            "acked first" if self._policy is AckPolicy.ACK_FIRST else outcome or "pending",
        )

    def _log(self, level: int, text: str, *args: Any, exc_info: Any = None) -> None:
        if self._logger is not None:
            self._logger.log(level, text, *args, exc_info=exc_info)


def _nothing(offset: int) -> None:
    """``advance`` for a consumer that commits nothing (no group)."""


def settle(loop: ConsumerLoop, tp: TopicPartition, offset: int, status: str) -> None:
    """A decision that came after the handler returned (MANUAL, get_one)."""
    if status == NACKED:
        loop.rewind(tp, offset)
    else:
        loop.finish(tp, offset)


def custom_callable(func: Callable[..., Any], original: Callable[[Any], Awaitable[Any]]) -> Any:
    """A user parser/decoder as ``async f(x)``: ``func(x)`` or ``func(x, original)``."""
    takes_original = len(inspect.signature(func).parameters) >= 2

    async def call(value: Any) -> Any:
        result = func(value, original) if takes_original else func(value)
        if inspect.isawaitable(result):
            result = await result
        return result

    return call
