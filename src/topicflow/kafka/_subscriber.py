"""What every subscriber kind shares: handlers, settings resolved at start, the
consumer loops' lifecycle, and consuming without a handler (``get_one``).

The handling of one message is in ``_handling.py`` (``MessageHandling``, this
class's base).
"""

from __future__ import annotations

import asyncio
import functools
import re
from typing import TYPE_CHECKING, Any, TypeVar

from topicflow._di import compile_handler
from topicflow.ack import AckPolicy
from topicflow.exceptions import SetupError
from topicflow.kafka._handling import Handler, MessageHandling, custom_callable, settle
from topicflow.kafka._loop import ConsumerLoop
from topicflow.kafka._transport import ConsumerSpec, TopicPartition
from topicflow.kafka.message import ACKED, KafkaMessage
from topicflow.kafka.publisher import PUBLISHERS_ATTR, PublishCommand
from topicflow.middlewares import wrap_publish

if TYPE_CHECKING:
    import logging
    from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence

    from topicflow._di import BatchPlan, HandlerPlan
    from topicflow.kafka._options import SubscriberConfig
    from topicflow.kafka._transport import ConsumerRecord
    from topicflow.kafka.broker.broker import KafkaBroker
    from topicflow.kafka.broker.registrator import KafkaRegistrator, Scope
    from topicflow.kafka.publisher import DefaultPublisher

    Batches = Mapping[TopicPartition, Sequence[ConsumerRecord[bytes, bytes]]]

__all__ = ["Subscriber"]

F = TypeVar("F", bound="Callable[..., Any]")
S = TypeVar("S", bound="Subscriber")

_PLACEHOLDER = re.compile(r"\{(\w+)\}")
#: Records asked of one getmany() by the single-message kinds (see ``_max_records``).
FETCH_RECORDS = 500


class Subscriber(MessageHandling):
    """Configuration, handlers and lifecycle of every kind."""

    def __init__(self, owner: KafkaRegistrator, config: SubscriberConfig) -> None:
        self._owner = owner
        self.config = config
        self._handlers: list[Handler] = []
        self._loops: list[ConsumerLoop] = []
        self._scope: Scope | None = None
        self._policy = AckPolicy.ACK
        self._logger: logging.Logger | None = None
        self._access_level: int | None = None
        self._middlewares: tuple[Any, ...] = ()
        self._context = None
        self._parse: Callable[[Any], Awaitable[KafkaMessage]] | None = None
        self._reply: Callable[[PublishCommand], Awaitable[Any]] | None = None
        self._queue: asyncio.Queue[KafkaMessage] | None = None
        self._current: KafkaMessage | None = None
        self._topics = config.topics
        self._partitions = config.partitions
        self._path_regex: re.Pattern[str] | None = None
        self._kafka_pattern: str | None = None
        self._paths: dict[str, Mapping[str, str]] = {}
        #: The handler when there is only one, without a filter.
        self._sole: Handler | None = None
        #: That handler when it has no publishers either (its result goes nowhere).
        self._direct: Handler | None = None
        #: No middlewares and no custom parser (resolved at start).
        self._lean = True
        self._replies = not config.no_reply
        if config.pattern is not None:
            self._kafka_pattern, self._path_regex = compile_pattern(config.pattern)

    # -- what it consumes --------------------------------------------------

    @property
    def topics(self) -> tuple[str, ...]:
        """The real topics (with the routers' prefixes once resolved)."""
        return self._topics

    @property
    def pattern(self) -> str | None:
        """The regex subscription (with the routers' prefixes once resolved)."""
        return self._kafka_pattern

    @property
    def partitions(self) -> tuple[TopicPartition, ...]:
        """The manually assigned partitions (with prefixes once resolved)."""
        return self._partitions

    @property
    def prefix(self) -> str:
        """The routers' prefixes in front of its topics ("" until resolved)."""
        return self._scope.prefix if self._scope is not None else ""

    def handler_publishers(self) -> list[tuple[HandlerPlan | BatchPlan, list[DefaultPublisher]]]:
        """Each handler's plan with the publishers its results go to (resolved at start)."""
        return [(h.plan, list(h.publishers)) for h in self._handlers]

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
        """AsyncAPI description (documents use the first handler's docstring when None)."""
        return self.config.description

    @property
    def include_in_schema(self) -> bool:
        """Whether AsyncAPI documents this subscriber (False when a router above hides it)."""
        hidden_above = self._scope is not None and not self._scope.include_in_schema
        return self.config.include_in_schema and not hidden_above

    @property
    def plan(self) -> HandlerPlan | BatchPlan | None:
        """The first handler's plan (None without a handler)."""
        return self._handlers[0].plan if self._handlers else None

    @property
    def handlers(self) -> tuple[HandlerPlan | BatchPlan, ...]:
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
        defined = self._path_regex.groupindex if self._path_regex else {}
        missing = sorted(set(plan.path_names) - set(defined))
        if missing and self._path_regex is None:
            raise SetupError(
                f"{plan.func.__qualname__} takes Path({missing[0]!r}) but the subscriber "
                "has no pattern=; use pattern='logs.{level}' style placeholders"
            )
        if missing:
            raise SetupError(
                f"{plan.func.__qualname__} takes Path({missing[0]!r}), which the pattern "
                f"{self.config.pattern!r} does not define; add a {{{missing[0]}}} placeholder"
            )
        self._handlers.append(Handler(plan, filter))
        self._sole = self._only_handler()
        return func

    def _only_handler(self) -> Handler | None:
        # One handler without a filter takes every message: nothing to choose per message.
        handlers = self._handlers
        if len(handlers) == 1 and handlers[0].filter is None:
            return handlers[0]
        return None

    # -- settings, resolved at start ----------------------------------------

    def bind(self, scope: Scope) -> None:
        """Resolve what the routers above and the broker set (called at start)."""
        self._scope = scope
        broker = scope.broker
        config = self.config
        prefix = scope.prefix
        self._topics = tuple(prefix + topic for topic in config.topics)
        self._partitions = tuple(
            TopicPartition(prefix + tp.topic, tp.partition) for tp in config.partitions
        )
        if config.pattern is not None:
            self._kafka_pattern, self._path_regex = compile_pattern(
                re.escape(prefix) + config.pattern
            )
        self._paths = {}
        self._logger = broker.logger
        level = broker.log_level
        # Decided once: a disabled access log costs one None check per message.
        logger = broker.logger
        self._access_level = level if logger is not None and logger.isEnabledFor(level) else None
        self._policy = config.ack_policy or scope.ack_policy or AckPolicy.ACK
        self._middlewares = scope.middlewares
        self._context = broker.context
        parser = config.parser or scope.parser
        self._parse = custom_callable(parser, self._default_parse) if parser else None
        decoder = config.decoder or scope.decoder
        decode = custom_callable(decoder, _default_decode) if decoder else None
        dependencies = (*scope.dependencies, *config.dependencies)
        for handler in self._handlers:
            handler.publishers = tuple(
                _resolve_publisher(p, scope)
                for p in getattr(handler.plan.func, PUBLISHERS_ATTR, ())
            )
            if hasattr(handler.plan, "bind"):
                handler.call = handler.plan.bind(
                    decoder=decode, dependencies=dependencies, context=broker.context
                )
        self._reply = wrap_publish(broker._send, scope.middlewares, broker.context)
        self._sole = self._only_handler()
        self._lean = not self._middlewares and self._parse is None
        self._direct = self._sole if self._sole is not None and not self._sole.publishers else None

    def copy(self: S) -> S:
        """A second, independent subscriber with the same handlers (a router included twice)."""
        twin = object.__new__(type(self))
        twin.__dict__.update(self.__dict__)
        twin._handlers = [Handler(h.plan, h.filter) for h in self._handlers]
        twin._sole = twin._only_handler()
        twin._direct = None  # bind() resolves it with the twin's own publishers
        twin._loops = []
        twin._scope = None
        twin._reset()
        return twin

    def _reset(self) -> None:
        """Kind-specific state a copy must not share."""

    @property
    def _broker(self) -> KafkaBroker:
        if self._scope is None:
            raise SetupError(
                f"{self!r} is not attached to a broker yet: include its router in the "
                "broker and start the broker (or await broker.start() first)"
            )
        return self._scope.broker

    # -- lifecycle ---------------------------------------------------------

    async def start(self) -> None:
        """Connect its consumer(s), join the group and start handling messages.

        A subscriber declared after ``broker.start()`` is started with this.
        """
        if self.running:
            return
        if self._scope is None:
            from topicflow.kafka.broker.broker import KafkaBroker

            if not isinstance(self._owner, KafkaBroker):
                raise SetupError(f"{self!r} belongs to a router: start it with its broker")
            self._owner._bind_one(self)
        broker = self._broker
        transport = broker._transport_or_raise()
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
        if not self.config.persistent and self in self._owner.subscribers:
            self._owner.subscribers.remove(self)

    def _consumer_count(self) -> int:
        return 1

    async def _started(self) -> None:
        """Kind-specific start work (after the consumers started)."""

    async def _stopped(self) -> None:
        """Kind-specific stop work (after the consumers stopped)."""

    def _make_loop(self, index: int) -> ConsumerLoop:
        config = self.config
        broker = self._broker
        name = config.group_id or ",".join(self._topics) or str(self._kafka_pattern or "manual")
        if self._consumer_count() > 1:
            name = f"{name}#{index}"
        return ConsumerLoop(
            ConsumerSpec(
                topics=self._topics,
                group_id=config.group_id,
                options=config.consumer,
                pattern=self._kafka_pattern,
                partitions=self._partitions,
            ),
            self._process if self._handlers else self._enqueue,
            name=name,
            logger=self._logger,
            graceful_timeout=broker.graceful_timeout,
            backoff=broker.nack_backoff,
            fetch_timeout_ms=config.batch_timeout_ms,
            max_records=self._max_records(),
            commit_interval=config.commit_interval,
            listener=config.listener,
        )

    def _max_records(self) -> int | None:
        # Unbounded, getmany() returns everything prefetched (~20k small records): all
        # of them live until the last is handled, and the heap's high-water mark (and
        # RSS) keeps creeping up over a long run. A few hundred at a time keeps the
        # memory flat and the records warm in the CPU cache. The consumer's own
        # max_poll_records, when given, decides instead.
        if "max_poll_records" in self.config.consumer:
            return None
        return FETCH_RECORDS

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
                    msg.settle = functools.partial(settle, loop, tp, record.offset)
                await queue.put(msg)

    async def get_one(self, *, timeout: float = 5.0) -> KafkaMessage | None:
        """The next message, or None after ``timeout`` seconds (handler-less subscribers).

        Under every policy but MANUAL, the previous message counts as acked when
        the next one is asked for, or when the subscriber stops; under MANUAL,
        call ``ack()``, ``nack()`` or ``reject()`` on it.
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

    def __repr__(self) -> str:
        what = self._topics or self._kafka_pattern or self._partitions
        return f"<{type(self).__name__} {what!r} group_id={self.config.group_id!r}>"


async def _default_decode(msg: KafkaMessage) -> Any:
    return await msg.decode()


def _resolve_publisher(publisher: DefaultPublisher, scope: Scope) -> DefaultPublisher:
    owner_scope = scope.of(publisher.owner)
    if owner_scope is not None:
        return publisher.bound(owner_scope)
    if publisher._scope is not None:
        return publisher
    raise SetupError(
        f"publisher {publisher.name!r} is declared on a router that is not included in "
        "the broker; include that router too"
    )


def compile_pattern(pattern: str) -> tuple[str, re.Pattern[str]]:
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
