"""What every subscriber kind shares: handlers, settings resolved at start, the
pipeline, the consumer loops' lifecycle, in-order dispatch, and consuming without
a handler (``get_one``). The kinds themselves, each one small dispatch function,
are in ``subscriber.py``; the pipeline is built in ``_pipeline.py``.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import sys
import time
from typing import TYPE_CHECKING, Any, TypeVar

from topicflow._di import compile_handler
from topicflow._tasks import PACE, TaskGroup
from topicflow.ack import AckPolicy, Outcome
from topicflow.exceptions import SetupError
from topicflow.kafka._failures import Failures
from topicflow.kafka._handlerless import Handlerless
from topicflow.kafka._loop import ConsumerLoop
from topicflow.kafka._options import compile_pattern
from topicflow.kafka._per_subscriber import for_subscriber
from topicflow.kafka._pipeline import Handler, PipelineSettings, build_pipeline, custom_callable
from topicflow.kafka._retry import Retrier
from topicflow.kafka._retry_loop import RetryLoop, dispatch_due
from topicflow.kafka._transport import ConsumerSpec, TopicPartition
from topicflow.kafka._watch import listening, watch_of
from topicflow.kafka.message import KafkaMessage
from topicflow.kafka.publisher import PUBLISHERS_ATTR, resolve_publisher, wrapper_of
from topicflow.middlewares import wrap_publish

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping, Sequence

    from topicflow._di import BatchPlan, HandlerPlan
    from topicflow.kafka._options import SubscriberConfig
    from topicflow.kafka._runtime import Observer, Runtime
    from topicflow.kafka._transport import ConsumerRecord
    from topicflow.kafka.broker.registrator import KafkaRegistrator, Scope
    from topicflow.kafka.publisher import DefaultPublisher

    Batches = Mapping[TopicPartition, Sequence[ConsumerRecord[bytes, bytes]]]

__all__ = ["Subscriber"]

F = TypeVar("F", bound="Callable[..., Any]")
S = TypeVar("S", bound="Subscriber")

_ACK = Outcome.ACK
_PENDING = Outcome.PENDING
#: Records asked of one getmany() by the single-message kinds (see ``_max_records``).
FETCH_RECORDS = 500
#: How long stop() waits for its tasks to end once cancelled.
_CANCEL_WAIT = 5.0


class Subscriber(Handlerless):
    """Configuration, handlers and lifecycle of every kind."""

    def __init__(self, owner: KafkaRegistrator, config: SubscriberConfig) -> None:
        self._owner = owner
        self.config = config
        self.retrier: Retrier | None = None  # where failed messages go, once bound
        self._handlers: list[Handler] = []
        self._loops: list[ConsumerLoop] = []
        self._scope: Scope | None = None
        self._tasks: TaskGroup | None = None
        self._policy = config.ack_policy or AckPolicy.ACK
        self._parse: Callable[[Any], Awaitable[KafkaMessage]] | None = None
        #: Stopped on its handler's request (StopConsume): done, not a failure.
        self.stopped_by_handler = False
        self._failures: Failures | None = None
        #: The folded consume path (built at start, in bind).
        self._pipeline: Any = None
        self._queue: asyncio.Queue[KafkaMessage] | None = None
        self._current: KafkaMessage | None = None
        self._topics = config.topics
        self._partitions = config.partitions
        self._path_regex: re.Pattern[str] | None = None
        self._kafka_pattern: str | None = None
        self._paths: dict[str, Mapping[str, str]] = {}
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

    @property
    def healthy(self) -> bool:
        """True while it runs and none of its background tasks crashed (or restarts)."""
        return self.running and self._tasks is not None and self._tasks.healthy

    @property
    def consumers(self) -> tuple[ConsumerLoop, ...]:
        """Its consumers while it runs (one; ``max_workers`` with a group: that many)."""
        return tuple(self._loops)

    @property
    def failure(self) -> str | None:
        """Why it was given up (its task crashed too often), or None."""
        return self._tasks.failure if self._tasks is not None else None

    # -- registration ------------------------------------------------------

    def __call__(
        self,
        func: F | None = None,
        *,
        filter: Callable[[KafkaMessage], bool | Awaitable[bool]] | None = None,
    ) -> Any:
        """Register a handler (its signature is compiled now).

        Called more than once, a subscriber holds several handlers; each message
        goes to the first whose ``filter(msg)`` is true (no filter: always), in
        registration order: a handler registered after one without a filter is
        never chosen (as in FastStream).
        """
        if func is None:
            return functools.partial(self.__call__, filter=filter)
        # The registering frame's locals: annotations may name classes defined there.
        plan = compile_handler(wrapper_of(func).__wrapped__, sys._getframe(1).f_locals)
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
        return wrapper_of(func)  # callable as func; tests find its mock on it

    # -- settings, resolved at start ----------------------------------------

    def bind(self, scope: Scope) -> None:
        """Resolve what the routers above and the broker set, and fold the pipeline
        (called at start)."""
        self._scope = scope
        runtime = scope.runtime
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
        self._policy = self._resolve_policy(config.ack_policy or scope.ack_policy)
        parser = config.parser or scope.parser
        self._parse = custom_callable(parser, self._default_parse) if parser else None
        decoder = config.decoder or scope.decoder
        decode = custom_callable(decoder, _default_decode) if decoder else None
        dependencies = (*scope.dependencies, *config.dependencies)
        for handler in self._handlers:
            handler.publishers = tuple(
                resolve_publisher(p, scope) for p in getattr(handler.plan.func, PUBLISHERS_ATTR, ())
            )
            if hasattr(handler.plan, "bind"):
                handler.call = handler.plan.bind(
                    decoder=decode,
                    dependencies=dependencies,
                    context=runtime.context,
                    apply_types=runtime.apply_types,
                )
        watch = watch_of(scope.middlewares, config.group_id)  # metrics, if a middleware is one
        self._failures = Failures(
            repr(self), self._policy, runtime.logger, runtime.access_level(), config.group_id, watch
        )
        self._failures.stop = self._stop_requested
        self._pipeline = self._build_pipeline(for_subscriber(scope, config.group_id), runtime)
        if config.retry is not None or config.dead_letter is not None:
            self.retrier = Retrier(config, self._topics, prefix, runtime, self._failures)
            self._pipeline = self.retrier.wrap(self._pipeline)

    def _resolve_policy(self, policy: AckPolicy | None) -> AckPolicy:
        return policy or AckPolicy.ACK

    def _build_pipeline(self, scope: Scope, runtime: Runtime) -> Any:
        if not self._handlers:
            return self._enqueue
        assert self._failures is not None
        return build_pipeline(
            PipelineSettings(
                handlers=tuple(self._handlers),
                policy=self._policy,
                middlewares=scope.middlewares,
                context=runtime.context,
                parser=self._parse,
                reply=(
                    None
                    if self.config.no_reply
                    else wrap_publish(runtime.send, scope.middlewares, runtime.context)
                ),
                failures=self._failures,
                # Where nothing watches publishes, a policy that finishes a message after
                # an error too lets the next message go while the cluster confirms what
                # its handler published.
                defer_confirmations=(
                    not scope.middlewares
                    and self._parse is None
                    and self._policy in (AckPolicy.ACK, AckPolicy.REJECT_ON_ERROR)
                ),
            )
        )

    def copy(self: S) -> S:
        """A second, independent subscriber with the same handlers (a router included twice)."""
        twin = object.__new__(type(self))
        twin.__dict__.update(self.__dict__)
        twin._handlers = [Handler(h.plan, h.filter) for h in self._handlers]
        twin._loops = []
        twin._scope = None
        twin._tasks = None
        twin._pipeline = None
        twin._reset()
        return twin

    def _reset(self) -> None:
        """Kind-specific state a copy must not share."""

    @property
    def _runtime(self) -> Runtime:
        if self._scope is None:
            raise SetupError(
                f"{self!r} is not attached to a broker yet: include its router in the "
                "broker and start the broker (or await broker.start() first)"
            )
        return self._scope.runtime

    # -- lifecycle ---------------------------------------------------------

    async def start(self) -> None:
        """Connect its consumer(s), join the group and start handling messages.

        A subscriber declared after ``broker.start()`` is started with this.
        """
        if self.running:
            return
        self.stopped_by_handler = False
        if self._scope is None:
            self._owner.attach(self)
        runtime = self._runtime
        transport = runtime.transport()
        self._tasks = TaskGroup(repr(self), runtime.supervision, runtime.logger, runtime.failed)
        if not self._handlers:
            self._queue = asyncio.Queue(maxsize=1)
        self._started()  # before the consumers: their first batch may come at once
        observer = runtime.observer()
        loops = self._loops = [self._make_loop(i, observer) for i in range(self._consumer_count())]
        if self.retrier is not None:  # its topics first; then its retry consumer, if any
            await self.retrier.declare(transport)
            loops += [self._make_loop(-1, observer)] if self.retrier.consumes else []
        results = await asyncio.gather(
            *(loop.start(transport) for loop in loops), return_exceptions=True
        )
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            self._loops = []
            await asyncio.gather(*(loop.stop() for loop in loops))
            tasks, self._tasks = self._tasks, None
            await tasks.stop(_CANCEL_WAIT)
            raise errors[0]

    async def stop(self) -> None:
        """Stop fetching, finish what is in hand, commit, leave the group."""
        self._release_current()
        loops, self._loops = self._loops, []
        await asyncio.gather(*(loop.stop() for loop in loops))
        tasks, self._tasks = self._tasks, None
        if tasks is not None:
            abandoned = await tasks.stop(_CANCEL_WAIT)
            if abandoned and self._failures is not None:
                self._failures.log(
                    logging.WARNING, "%r: abandoned tasks that did not end: %s", self, abandoned
                )
        self._queue = None
        if not self.config.persistent and self in self._owner.subscribers:
            self._owner.subscribers.remove(self)

    def _stop_requested(self, exc: BaseException) -> None:
        """A handler raised StopConsume (SystemExit: the app too): stop, from a task."""
        self.stopped_by_handler = True
        for loop in self._loops:  # at once: nothing fetched after it is handled
            loop.running, loop.epoch = False, loop.epoch + 1
        if self._tasks is not None and self._loops:
            self._tasks.spawn("stop", self.stop)
        if isinstance(exc, SystemExit) and (app := self._runtime.context.get("app")):
            app.exit()

    def _consumer_count(self) -> int:
        return 1

    def _started(self) -> None:
        """Kind-specific start work (before the consumers start)."""

    async def _drain(self, timeout: float) -> None:
        """On revoke and stop, before committing: let what is in hand settle."""

    def _make_loop(self, index: int, observer: Observer | None) -> ConsumerLoop:
        config = self.config
        runtime = self._runtime
        assert self._tasks is not None
        assert self._failures is not None
        name = config.group_id or ",".join(self._topics) or str(self._kafka_pattern or "manual")
        retrier = self.retrier if index < 0 else None  # -1: the consumer of its retry topics
        retries = retrier.consumes if retrier is not None else ()
        if retries or self._consumer_count() > 1:
            name = f"{name} retries" if retries else f"{name}#{index}"
        options = retrier.options(config.consumer) if retrier else config.consumer
        if self._consumer_count() > 1 and options.get("group_instance_id") and index >= 0:
            # One static member id on two members would fence one: each gets its own.
            options = {**options, "group_instance_id": f"{options['group_instance_id']}-{index}"}
        loop = (RetryLoop if retries else ConsumerLoop)(
            ConsumerSpec(
                topics=retries or self._topics,
                group_id=config.group_id,
                options=options,
                pattern=self._kafka_pattern,
                partitions=self._partitions,
            ),
            dispatch_due if retries else self._dispatch,
            pipeline=self._pipeline,
            tasks=self._tasks,
            name=name,
            logger=runtime.logger,
            graceful_timeout=runtime.graceful_timeout,
            backoff=(self.retrier or runtime).nack_backoff,  # blocking retries: their delays
            fetch_timeout_ms=config.batch_timeout_ms,
            max_records=self._max_records(),
            commit_interval=config.commit_interval,
            listener=listening(config.listener, self._failures.watch),
            drain=self._drain,
            handlers=self._describe_handlers(),
            watch=self._failures.watch,
        )
        if observer is not None:
            loop.pipeline = observer.pipeline(self, loop, loop.pipeline)
        return loop

    def _describe_handlers(self) -> str:
        """Its handlers and what they consume, for log lines about them."""
        names = ", ".join(plan.func.__qualname__ for plan in self.handlers) or "no handler"
        what = ",".join(self._topics) or str(self._kafka_pattern or self._partitions)
        return f"{names} ({what}, group {self.config.group_id})"

    def _max_records(self) -> int | None:
        # Unbounded, getmany() returns all prefetched (~20k small records), all alive
        # until the last is handled: RSS creeps up. A few hundred at a time keep memory
        # flat and records warm in cache. The consumer's max_poll_records decides instead.
        if "max_poll_records" in self.config.consumer:
            return None
        return FETCH_RECORDS

    # -- one message at a time ----------------------------------------------

    async def _dispatch(self, loop: ConsumerLoop, batches: Batches) -> None:
        """Hand a fetched batch to the pipeline one message at a time, in partition order.

        A partition's batch stops at a nacked message (it comes again) and when
        the partition is rewound or revoked meanwhile.
        """
        pipeline = loop.pipeline
        message = KafkaMessage if self._path_regex is None else self._message  # for Path()
        ack_first = self._policy is AckPolicy.ACK_FIRST
        epoch = loop.epoch
        clock, pace = time.monotonic, PACE
        for tp, records in batches.items():
            tracker = loop.tracker(tp)  # once per partition, not per message
            generation = tracker.generation
            for record in records:
                if clock() >= pace.due:  # a handler that never awaits must not starve the rest
                    await loop.breathe()
                if loop.epoch != epoch or tracker.generation != generation:
                    break  # revoked, stopping, or rewound: the rest comes again
                offset = record.offset
                msg = message(record)
                if ack_first:  # finished when received, whatever becomes of it
                    tracker.settle(offset, _ACK, False)
                    await pipeline(msg)
                    continue
                # Not begun: in order, it is its partition's only message in flight.
                outcome = await pipeline(msg)
                if tracker.generation != generation:
                    break  # rewound meanwhile (a late nack): this delivery is stale
                if outcome is _PENDING:
                    tracker.settle(offset, outcome, False)
                    loop.settle_later(tracker, tp, offset, msg)
                elif not tracker.settle(offset, outcome, False):
                    loop.redeliver(tp, offset)  # nacked: its partition was rewound to it
                    break

    def _message(self, record: ConsumerRecord[bytes, bytes]) -> KafkaMessage:
        if self._path_regex is None:
            return KafkaMessage(record)
        path = self._paths.get(record.topic)
        if path is None:
            match = self._path_regex.match(record.topic)
            path = self._paths[record.topic] = match.groupdict() if match else {}
        return KafkaMessage(record, path)

    async def _default_parse(self, record: ConsumerRecord[bytes, bytes]) -> KafkaMessage:
        return self._message(record)

    def __repr__(self) -> str:
        what = self._topics or self._kafka_pattern or self._partitions
        return f"<{type(self).__name__} {what!r} group_id={self.config.group_id!r}>"


async def _default_decode(msg: KafkaMessage) -> Any:
    return await msg.decode()
