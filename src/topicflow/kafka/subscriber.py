"""The four subscriber kinds: how fetched records reach handlers.

The consume path, in order::

    ConsumerLoop.getmany()                   batches of records per partition (_loop.py)
      -> KafkaMessage(record)                no parsing until a field is read
      -> handler chosen by filter=           first match wins
      -> plan.call(msg)                      arguments built, body validated, handler awaited
      -> publishers / reply                  the return value, if any
      -> outcome                             AckPolicy, or AckMessage/NackMessage/RejectMessage
      -> loop.finish() / loop.rewind()       offsets committed later, in batches

==================================  ==========================================================
kind                                what runs at once, and what stays in order
==================================  ==========================================================
DefaultSubscriber                   one message at a time; partition order kept
BatchSubscriber                     one list of up to ``max_records`` messages at a time
ConcurrentDefaultSubscriber         up to ``max_workers`` messages; same key stays in order
ConcurrentBetweenPartitionsSub...   ``max_workers`` consumers in the group; partition order kept
==================================  ==========================================================
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import itertools
import logging
import re
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from topicflow._di import compile_batch_handler, compile_handler
from topicflow.ack import AckPolicy
from topicflow.exceptions import AckMessage, DecodeError, NackMessage, RejectMessage, SetupError
from topicflow.kafka._loop import ConsumerLoop
from topicflow.kafka._transport import ConsumerSpec
from topicflow.kafka.message import ACKED, NACKED, REJECTED, KafkaMessage
from topicflow.kafka.publisher import PUBLISHERS_ATTR

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence

    from topicflow._di import BatchPlan, HandlerPlan
    from topicflow.kafka._options import SubscriberConfig
    from topicflow.kafka._transport import ConsumerRecord, TopicPartition
    from topicflow.kafka.broker.broker import KafkaBroker
    from topicflow.kafka.publisher import DefaultPublisher

    Batches = Mapping[TopicPartition, Sequence[ConsumerRecord[bytes, bytes]]]

__all__ = [
    "BatchSubscriber",
    "ConcurrentBetweenPartitionsSubscriber",
    "ConcurrentDefaultSubscriber",
    "DefaultSubscriber",
]

F = TypeVar("F", bound="Callable[..., Any]")

#: What a handler error means under each policy (MANUAL: nothing, the handler decides).
_ON_ERROR: dict[AckPolicy, str | None] = {
    AckPolicy.ACK_FIRST: ACKED,
    AckPolicy.ACK: ACKED,
    AckPolicy.REJECT_ON_ERROR: REJECTED,
    AckPolicy.NACK_ON_ERROR: NACKED,
    AckPolicy.MANUAL: None,
}
_PLACEHOLDER = re.compile(r"\{(\w+)\}")


class _Handler:
    __slots__ = ("filter", "plan", "publishers")

    def __init__(self, plan: HandlerPlan, filter: Callable[[KafkaMessage], Any] | None) -> None:
        self.plan = plan
        self.filter = filter
        self.publishers: tuple[DefaultPublisher, ...] = ()


class _Subscriber:
    """What every kind shares: configuration, handlers, lifecycle, one-message handling."""

    kind: ClassVar[str] = "subscriber"

    def __init__(self, broker: KafkaBroker, config: SubscriberConfig) -> None:
        self._broker = broker
        self.config = config
        self._handlers: list[_Handler] = []
        self._loops: list[ConsumerLoop] = []
        self._policy = AckPolicy.ACK
        self._logger: logging.Logger | None = None
        self._queue: asyncio.Queue[KafkaMessage] | None = None
        self._current: KafkaMessage | None = None
        self._path_regex: re.Pattern[str] | None = None
        self._paths: dict[str, Mapping[str, str]] = {}
        self._kafka_pattern: str | None = None
        if config.pattern is not None:
            self._kafka_pattern, self._path_regex = _compile_pattern(config.pattern)

    # -- what it consumes --------------------------------------------------

    @property
    def topics(self) -> tuple[str, ...]:
        """The topics named at registration (empty for pattern and partition subscribers)."""
        return self.config.topics

    @property
    def group_id(self) -> str | None:
        """The consumer group."""
        return self.config.group_id

    @property
    def title(self) -> str | None:
        """AsyncAPI title."""
        return self.config.title

    @property
    def description(self) -> str | None:
        """AsyncAPI description (the first handler's docstring when not given)."""
        return self.config.description

    @property
    def include_in_schema(self) -> bool:
        """Whether AsyncAPI documents this subscriber."""
        return self.config.include_in_schema

    @property
    def plan(self) -> HandlerPlan | None:
        """The first handler's plan (None without a handler)."""
        return self._handlers[0].plan if self._handlers else None

    @property
    def handlers(self) -> tuple[HandlerPlan, ...]:
        """Every handler's plan, in registration order."""
        return tuple(h.plan for h in self._handlers)

    @property
    def running(self) -> bool:
        """True between :meth:`start` and :meth:`stop`."""
        return bool(self._loops) and self._loops[0].running

    # -- registration ------------------------------------------------------

    def __call__(
        self,
        func: F | None = None,
        *,
        filter: Callable[[KafkaMessage], bool | Awaitable[bool]] | None = None,
    ) -> Any:
        """Register a handler (its signature is compiled now).

        Called more than once, a subscriber holds several handlers; each message
        goes to the first whose ``filter(msg)`` is true (no filter: always).
        """
        if func is None:
            return functools.partial(self.__call__, filter=filter)
        if self._handlers and self._handlers[-1].filter is None:
            raise SetupError(
                f"{self!r} already has the catch-all handler "
                f"{self._handlers[-1].plan.func.__qualname__}; give the earlier handlers a "
                "filter= (the handler without one goes last), or use another subscriber"
            )
        plan = compile_handler(func)
        if plan.path_names and self._path_regex is None:
            raise SetupError(
                f"{plan.func.__qualname__} takes Path({plan.path_names[0]!r}) but the "
                "subscriber has no pattern=; use pattern='logs.{level}' style placeholders"
            )
        missing = set(plan.path_names) - set(
            self._path_regex.groupindex if self._path_regex else ()
        )
        if missing:
            raise SetupError(
                f"{plan.func.__qualname__} takes Path({sorted(missing)[0]!r}), which the "
                f"pattern {self.config.pattern!r} does not define; add a "
                f"{{{sorted(missing)[0]}}} placeholder"
            )
        self._handlers.append(_Handler(plan, filter))
        return func

    # -- lifecycle ---------------------------------------------------------

    async def start(self) -> None:
        """Connect its consumer(s), join the group and start handling messages.

        A subscriber declared after ``broker.start()`` is started with this.
        """
        if self.running:
            return
        broker = self._broker
        transport = broker._transport_or_raise()
        self._logger = broker.logger
        self._policy = self.config.ack_policy or broker.ack_policy
        for handler in self._handlers:
            handler.publishers = tuple(getattr(handler.plan.func, PUBLISHERS_ATTR, ()))
        if not self._handlers:
            self._queue = asyncio.Queue(maxsize=1)
        self._loops = [self._make_loop(i) for i in range(self._consumer_count())]
        await asyncio.gather(*(loop.start(transport) for loop in self._loops))
        await self._started()

    async def stop(self) -> None:
        """Stop fetching, finish what is in hand, commit, leave the group."""
        self._release_current()
        loops, self._loops = self._loops, []
        await asyncio.gather(*(loop.stop() for loop in loops))
        await self._stopped()
        self._queue = None
        self._current = None
        if not self.config.persistent and self in self._broker.subscribers:
            self._broker.subscribers.remove(self)

    def _consumer_count(self) -> int:
        return 1

    async def _started(self) -> None:
        """Kind-specific start work (after the consumers started)."""

    async def _stopped(self) -> None:
        """Kind-specific stop work (after the consumers stopped)."""

    def _make_loop(self, index: int) -> ConsumerLoop:
        config = self.config
        name = config.group_id or ",".join(config.topics) or str(config.pattern or "partitions")
        if self._consumer_count() > 1:
            name = f"{name}#{index}"
        return ConsumerLoop(
            ConsumerSpec(
                topics=config.topics,
                group_id=config.group_id,
                options=config.consumer,
                pattern=self._kafka_pattern,
                partitions=config.partitions,
            ),
            self._process if self._handlers else self._enqueue,
            name=name,
            logger=self._logger,
            graceful_timeout=self._broker.graceful_timeout,
            backoff=self._broker.nack_backoff,
            fetch_timeout_ms=config.batch_timeout_ms,
            max_records=self._max_records(),
            commit_interval=config.commit_interval,
            listener=config.listener,
        )

    def _max_records(self) -> int | None:
        return None

    # -- consuming ---------------------------------------------------------

    async def _process(self, loop: ConsumerLoop, batches: Batches) -> None:
        """Handle a fetched batch one message at a time, in partition order."""
        epoch = loop.epoch
        for tp, records in batches.items():
            for record in records:
                if not loop.active(epoch):
                    return
                if not await self._handle(loop, tp, record):
                    break

    def _message(self, record: ConsumerRecord[bytes, bytes]) -> KafkaMessage:
        if self._path_regex is None:
            return KafkaMessage(record)
        path = self._paths.get(record.topic)
        if path is None:
            match = self._path_regex.match(record.topic)
            path = self._paths[record.topic] = match.groupdict() if match else {}
        return KafkaMessage(record, path)

    async def _handle(
        self, loop: ConsumerLoop, tp: TopicPartition, record: ConsumerRecord[bytes, bytes]
    ) -> bool:
        """Handle one record; False when its partition was rewound (skip the rest)."""
        offset = record.offset
        tracker = loop.tracker(tp)
        if tracker is not None:
            tracker.begin(offset)
        policy = self._policy
        msg = self._message(record)
        if policy is AckPolicy.ACK_FIRST:
            loop.finish(tp, offset)
        outcome = await self._run_handler(msg, policy)
        if policy is AckPolicy.ACK_FIRST:
            return True
        if outcome is None:
            # MANUAL and undecided: the message stays unfinished until it is settled.
            msg.settle = functools.partial(_settle, loop, tp, offset)
            return True
        if outcome == NACKED:
            loop.rewind(tp, offset)
            return False
        loop.finish(tp, offset)
        return True

    async def _run_handler(self, msg: KafkaMessage, policy: AckPolicy) -> str | None:
        """Call the matching handler and publish its result; returns the outcome."""
        handler: _Handler | None = None
        try:
            handler = await self._choose(msg)
            if handler is None:
                self._log(
                    logging.WARNING,
                    "no handler of %r accepts %s; it is acked and skipped",
                    self,
                    msg.message_id,
                )
                return ACKED
            result = await handler.plan.call(msg)
            if result is not None:
                for publisher in handler.publishers:
                    await publisher.publish(result, correlation_id=msg.correlation_id)
            if not self.config.no_reply and msg.raw_message.headers and msg.reply_to:
                await self._broker.publish(result, msg.reply_to, correlation_id=msg.correlation_id)
        except DecodeError as exc:
            self._log(logging.ERROR, "poison message rejected, moving on: %s", exc)
            return REJECTED
        except AckMessage:
            return ACKED
        except NackMessage:
            return NACKED
        except RejectMessage:
            return REJECTED
        except Exception as exc:
            name = handler.plan.func.__qualname__ if handler is not None else "filter"
            self._log(
                logging.ERROR,
                "handler %s failed on %s: %r",
                name,
                msg.message_id,
                exc,
                exc_info=exc,
            )
            return msg.status or _ON_ERROR[policy]
        if msg.status is not None:
            return msg.status
        return None if policy is AckPolicy.MANUAL else ACKED

    async def _choose(self, msg: KafkaMessage) -> _Handler | None:
        for handler in self._handlers:
            if handler.filter is None:
                return handler
            accepted = handler.filter(msg)
            if inspect.isawaitable(accepted):
                accepted = await accepted
            if accepted:
                return handler
        return None

    # -- without a handler: get_one() and async for ------------------------

    async def _enqueue(self, loop: ConsumerLoop, batches: Batches) -> None:
        queue = self._queue
        assert queue is not None
        epoch = loop.epoch
        for tp, records in batches.items():
            for record in records:
                if not loop.active(epoch):
                    return
                tracker = loop.tracker(tp)
                if tracker is not None:
                    tracker.begin(record.offset)
                msg = self._message(record)
                if self._policy is AckPolicy.ACK_FIRST:
                    loop.finish(tp, record.offset)
                else:
                    msg.settle = functools.partial(_settle, loop, tp, record.offset)
                await queue.put(msg)

    async def get_one(self, *, timeout: float = 5.0) -> KafkaMessage | None:
        """The next message, or None after ``timeout`` seconds (handler-less subscribers).

        Under every policy but MANUAL, the previous message counts as acked when
        the next one is asked for; under MANUAL, call ``ack()``, ``nack()`` or
        ``reject()`` on it.
        """
        if self._handlers:
            raise SetupError(f"{self!r} has a handler; get_one() is for subscribers without one")
        if self._queue is None:
            raise SetupError(f"{self!r} is not started: await sub.start() first")
        self._release_current()
        try:
            msg = await asyncio.wait_for(self._queue.get(), timeout)
        except TimeoutError:
            return None
        self._current = msg
        return msg

    def _release_current(self) -> None:
        current, self._current = self._current, None
        if current is not None and self._policy is not AckPolicy.MANUAL:
            current._decide(ACKED)

    async def __aiter__(self) -> AsyncIterator[KafkaMessage]:
        """``async for msg in sub``: messages until the subscriber stops."""
        while self._queue is not None:
            msg = await self.get_one(timeout=0.5)
            if msg is not None:
                yield msg

    def _log(self, level: int, text: str, *args: Any, exc_info: Any = None) -> None:
        if self._logger is not None:
            self._logger.log(level, text, *args, exc_info=exc_info)

    def __repr__(self) -> str:
        what = self.config.topics or self.config.pattern or self.config.partitions
        return f"<{type(self).__name__} {what!r} group_id={self.config.group_id!r}>"


class DefaultSubscriber(_Subscriber):
    """One message at a time; each partition's order is kept."""


class ConcurrentBetweenPartitionsSubscriber(_Subscriber):
    """``max_workers`` consumers in one group: up to that many partitions handled at
    once, each partition in order. Rebalances spread the partitions over them."""

    def _consumer_count(self) -> int:
        return self.config.max_workers or 1


class ConcurrentDefaultSubscriber(_Subscriber):
    """Up to ``max_workers`` messages handled at once. Messages with the same key go
    to the same worker, so they stay in order; keyless messages are spread round robin.
    """

    def __init__(self, broker: KafkaBroker, config: SubscriberConfig) -> None:
        super().__init__(broker, config)
        self._workers: list[asyncio.Task[None]] = []
        self._inboxes: list[asyncio.Queue[tuple[ConsumerLoop, TopicPartition, Any]]] = []
        self._spread = itertools.count()

    async def _started(self) -> None:
        count = self.config.max_workers or 1
        self._inboxes = [asyncio.Queue(maxsize=8) for _ in range(count)]
        self._workers = [
            asyncio.create_task(self._work(inbox), name=f"topicflow:{self!r}:worker{i}")
            for i, inbox in enumerate(self._inboxes)
        ]

    async def _process(self, loop: ConsumerLoop, batches: Batches) -> None:
        epoch = loop.epoch
        inboxes = self._inboxes
        for tp, records in batches.items():
            for record in records:
                if not loop.active(epoch):
                    return
                key = record.key
                index = hash(key) if key is not None else next(self._spread)
                await inboxes[index % len(inboxes)].put((loop, tp, record))

    async def _work(self, inbox: asyncio.Queue[tuple[ConsumerLoop, TopicPartition, Any]]) -> None:
        while True:
            loop, tp, record = await inbox.get()
            try:
                await self._handle(loop, tp, record)
            finally:
                inbox.task_done()

    async def _stopped(self) -> None:
        # Fetching has stopped: let the workers finish what they were handed.
        drained = asyncio.gather(*(inbox.join() for inbox in self._inboxes))
        try:
            await asyncio.wait_for(drained, self._broker.graceful_timeout)
        except TimeoutError:
            self._log(
                logging.WARNING,
                "%r: workers outlived graceful_timeout; unfinished messages are dropped",
                self,
            )
        for worker in self._workers:
            worker.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        self._workers = []


class BatchSubscriber(_Subscriber):
    """The handler receives a list of up to ``max_records`` bodies, each validated as
    the ``T`` of its ``list[T]`` annotation. Poison records are logged and left out.
    The batch is acknowledged as a whole."""

    def __init__(self, broker: KafkaBroker, config: SubscriberConfig) -> None:
        super().__init__(broker, config)
        self._batch_plan: BatchPlan | None = None
        self._poisoned: set[tuple[TopicPartition, int]] = set()

    def __call__(
        self,
        func: F | None = None,
        *,
        filter: Callable[[KafkaMessage], bool | Awaitable[bool]] | None = None,
    ) -> Any:
        """Register the batch handler: ``async def handle(items: list[Item])``."""
        if func is None:
            return functools.partial(self.__call__, filter=filter)
        if filter is not None or self._batch_plan is not None:
            raise SetupError(f"{self!r}: a batch subscriber has exactly one handler, no filter=")
        self._batch_plan = compile_batch_handler(func)
        self._handlers.append(_Handler(_as_handler_plan(self._batch_plan), None))
        return func

    def _max_records(self) -> int | None:
        return self.config.max_records

    async def _process(self, loop: ConsumerLoop, batches: Batches) -> None:
        plan = self._batch_plan
        assert plan is not None
        policy = self._policy
        taken: list[tuple[TopicPartition, int]] = []
        bodies: list[Any] = []
        for tp, records in batches.items():
            tracker = loop.tracker(tp)
            for record in records:
                offset = record.offset
                if tracker is not None:
                    tracker.begin(offset)
                if (tp, offset) in self._poisoned:  # back after a nack: still poison
                    self._poisoned.discard((tp, offset))
                    loop.finish(tp, offset)
                    continue
                try:
                    bodies.append(plan.extract(self._message(record)))
                except DecodeError as exc:
                    self._log(logging.ERROR, "poison message rejected, moving on: %s", exc)
                    self._poisoned.add((tp, offset))
                    loop.finish(tp, offset)
                    continue
                taken.append((tp, offset))
        if not taken:
            return
        if policy is AckPolicy.ACK_FIRST:
            for tp, offset in taken:
                loop.finish(tp, offset)
        outcome = await self._run_batch(plan, bodies, policy)
        if policy is AckPolicy.ACK_FIRST or outcome is None:
            return
        if outcome == NACKED:
            firsts: dict[TopicPartition, int] = {}
            for tp, offset in taken:
                firsts.setdefault(tp, offset)
            for tp, offset in firsts.items():
                loop.rewind(tp, offset)
            return
        self._poisoned.clear()
        for tp, offset in taken:
            loop.finish(tp, offset)

    async def _run_batch(self, plan: BatchPlan, bodies: list[Any], policy: AckPolicy) -> str | None:
        try:
            result = await plan.call(bodies)
            if result is not None:
                for publisher in self._handlers[0].publishers:
                    await publisher.publish(result)
        except AckMessage:
            return ACKED
        except NackMessage:
            return NACKED
        except RejectMessage:
            return REJECTED
        except Exception as exc:
            self._log(
                logging.ERROR,
                "batch handler %s failed on %d messages: %r",
                plan.func.__qualname__,
                len(bodies),
                exc,
                exc_info=exc,
            )
            return _ON_ERROR[policy]
        return None if policy is AckPolicy.MANUAL else ACKED


def _as_handler_plan(batch: BatchPlan) -> HandlerPlan:
    from topicflow._di import HandlerPlan

    async def unused(msg: KafkaMessage) -> Any:  # batches never go through call()
        raise RuntimeError("a batch plan is called with a list")

    return HandlerPlan(
        func=batch.func, call=unused, body_type=batch.body_type, return_type=batch.return_type
    )


def _settle(loop: ConsumerLoop, tp: TopicPartition, offset: int, status: str) -> None:
    """A decision that came after the handler returned (MANUAL, get_one)."""
    if status == NACKED:
        loop.rewind(tp, offset)
    else:
        loop.finish(tp, offset)


def _compile_pattern(pattern: str) -> tuple[str, re.Pattern[str]]:
    """The regex Kafka subscribes with, and the one that extracts ``{name}`` values.

    A ``{name}`` placeholder matches one or more characters other than ``.``;
    the rest of the pattern is a regular expression, matched against the whole
    topic name.
    """
    with_groups = _PLACEHOLDER.sub(lambda m: f"(?P<{m.group(1)}>[^.]+)", pattern)
    try:
        compiled = re.compile(f"^(?:{with_groups})$")
    except re.error as exc:
        raise SetupError(f"pattern {pattern!r} is not a valid regular expression: {exc}") from exc
    plain = _PLACEHOLDER.sub("[^.]+", pattern)
    return f"^(?:{plain})$", compiled
