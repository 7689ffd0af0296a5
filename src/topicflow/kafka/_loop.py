"""One Kafka consumer at work: fetching, rebalances, redelivery, and a bounded stop.

A :class:`ConsumerLoop` owns a consumer and its :class:`~topicflow.ack.OffsetCommitter`,
and runs two tasks in its owner's :class:`~topicflow._tasks.TaskGroup`: the
fetch loop, which hands each fetched batch to its subscriber's ``dispatch``
function, and the periodic committer. What may be committed is decided in
:mod:`topicflow.ack`; this module does what the consumer must do about it:

- a nacked message is sought back to and its partition paused for a growing
  backoff (:meth:`ConsumerLoop.redeliver`); other partitions keep flowing;
- when partitions are revoked, the batch in hand stops at the message being
  handled, which finishes (bounded by ``graceful_timeout``) and is committed
  before the partitions go;
- after a crash of the fetch task, the partitions of the batch in hand are
  sought back to their first unfinished message before it starts again;
- records the client cannot read are handed out around (the readable ones)
  and rejected as poison (:meth:`ConsumerLoop._around_unreadable`);
- ``stop()`` leaves the group; no wait on the client outlasts ``graceful_timeout``.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from typing import TYPE_CHECKING, Any

from topicflow._context import enter_consumer
from topicflow._tasks import PACE
from topicflow.ack import OffsetCommitter, Outcome
from topicflow.exceptions import KafkaUnavailableError
from topicflow.kafka._seam import ConsumerStopped, UnreadableRecord
from topicflow.kafka._unconfirmed import Unconfirmed
from topicflow.kafka._watch import ConsumerWatch, Listener, watched

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping, Sequence

    from topicflow._tasks import Backoff, TaskGroup
    from topicflow.ack import PartitionTracker
    from topicflow.kafka._seam import ConsumerTransport, Transport
    from topicflow.kafka._transport import ConsumerRecord, ConsumerSpec, TopicPartition
    from topicflow.kafka.message import KafkaMessage

    Batches = Mapping[TopicPartition, Sequence[ConsumerRecord[bytes, bytes]]]

__all__ = ["ConsumerLoop"]

#: How long stop() waits for a cancelled task to end.
_CANCELLED_WAIT = 1.0
#: Upper bound of the delay between fetch attempts while the cluster is unreachable.
_UNAVAILABLE_MAX_DELAY = 5.0


class ConsumerLoop:
    """A consumer, its offsets and its fetch loop, for one subscriber (or the replies).

    Args:
        spec: what it consumes.
        dispatch: ``dispatch(loop, batches)``, the subscriber kind's way of handing a
            fetched batch to ``loop.pipeline``.
        pipeline: the subscriber's pipeline (an observer may wrap it per loop).
        tasks: the owner's task group, where its tasks run.
        drain: awaited on revoke and stop before committing, to let what the
            subscriber still has in hand (its workers' messages) settle.
        handlers: names its handlers in log lines about them (else ``name``).
        listener, watch: told of rebalances; of fetches, commits, poison (``_watch``).
    """

    def __init__(
        self,
        spec: ConsumerSpec,
        dispatch: Callable[[ConsumerLoop, Batches], Awaitable[None]],
        *,
        pipeline: Any,
        tasks: TaskGroup,
        name: str,
        logger: logging.Logger | None,
        graceful_timeout: float,
        backoff: Backoff,
        fetch_timeout_ms: int,
        max_records: int | None,
        commit_interval: float,
        listener: Listener | None = None,
        drain: Callable[[float], Awaitable[None]] | None = None,
        handlers: str | None = None,
        watch: ConsumerWatch | None = None,
    ) -> None:
        self.spec = spec
        self.name = name
        self._handlers = handlers or name
        self.pipeline = pipeline
        self._dispatch = dispatch
        self._tasks = tasks
        self._logger = logger
        self._graceful_timeout = graceful_timeout
        self._backoff = backoff
        self._fetch_timeout_ms = fetch_timeout_ms
        self._max_records = max_records
        self._commit_interval = commit_interval
        self._listener = listener
        self._drain = drain
        self.watch = watch
        #: Its Kafka consumer, while it runs.
        self.consumer: ConsumerTransport | None = None
        #: The broker's transport, once started: it translates failed publishes.
        self.transport: Transport | None = None
        self.offsets = OffsetCommitter(None, logger=logger, interval=commit_interval)
        self._fetch_task: asyncio.Task[None] | None = None
        self._commit_task: asyncio.Task[None] | None = None
        self._resume_handles: dict[TopicPartition, asyncio.TimerHandle] = {}
        #: The first offset of each partition in the batch being dispatched.
        self._in_hand: dict[TopicPartition, int] = {}
        self.running = False
        #: Bumped on every revoke and on stop: a batch fetched before is not handled further.
        self.epoch = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._assigned = asyncio.Event()
        #: Set once the fetch task crashed (start() stops waiting for an assignment).
        self._crashed = asyncio.Event()
        #: Publishes of handlers that returned, whose messages finish once they are confirmed.
        self._unconfirmed: set[asyncio.Future[Any]] = set()

    @property
    def joined(self) -> bool:
        """True when it consumes what it should: outside any group once started; in a
        group once the group assigned it partitions (maybe none), until a rebalance."""
        grouped = self.spec.group_id is not None and not self.spec.partitions
        return self.running and (self._assigned.is_set() or not grouped)

    @property
    def healthy(self) -> bool:
        """True while it runs and its fetch task is alive."""
        task = self._fetch_task
        return self.running and task is not None and not task.done()

    # -- lifecycle ---------------------------------------------------------

    async def start(self, transport: Transport) -> None:
        """Connect, subscribe, start fetching; wait (bounded) for the first assignment."""
        consumer = watched(transport, self.spec, self, self.watch)
        await consumer.start()
        self.consumer = consumer
        self.transport = transport
        self.running = True
        grouped = self.spec.group_id is not None and not self.spec.partitions
        self.offsets = OffsetCommitter(
            consumer if grouped else None, logger=self._logger, interval=self._commit_interval
        )
        self._fetch_task = self._tasks.spawn(
            f"{self.name} fetch", self._fetch_loop, recover=self._recover
        )
        if grouped:
            self._commit_task = self._tasks.spawn(f"{self.name} commit", self.offsets.run)
            wait_s = self.spec.options.get("session_timeout_ms", 10_000) / 1000
            waits = [asyncio.ensure_future(e.wait()) for e in (self._assigned, self._crashed)]
            try:
                # Until the group assigns partitions, or fetching crashed (it is restarted,
                # or was given up).
                await asyncio.wait(
                    [*waits, self._fetch_task],
                    timeout=wait_s,
                    return_when=asyncio.FIRST_COMPLETED,
                )
            finally:
                for wait in waits:
                    wait.cancel()
            if not (self._assigned.is_set() or self._crashed.is_set() or self._fetch_task.done()):
                self._log(
                    logging.WARNING,
                    "%s: no partitions assigned after %.0fs; it keeps trying",
                    self.name,
                    wait_s,
                )

    async def stop(self) -> None:
        """Stop fetching, let the message in hand finish, commit, leave the group.

        Handlers (a worker's too, and publish confirmations) get
        ``graceful_timeout`` to finish; committing and leaving the group get
        ``graceful_timeout`` more, after which what is left is abandoned (and
        logged): ``stop()`` never hangs on a handler or on the client.
        """
        if self._fetch_task is None:  # not started, or stopping already
            return
        self.running = False
        self.epoch += 1  # the batch in hand stops at the message being handled
        bound = self._graceful_timeout
        clock = asyncio.get_running_loop().time
        deadline = clock() + bound
        fetch, self._fetch_task = self._fetch_task, None
        if fetch is not None and not fetch.done():
            _, late = await asyncio.wait([fetch], timeout=bound)
            if late:
                self._log(
                    logging.WARNING,
                    "%s: a handler outlived graceful_timeout=%ss and was cancelled; its "
                    "message is not committed and will be delivered again",
                    self.name,
                    bound,
                )
        commit, self._commit_task = self._commit_task, None
        tasks = [task for task in (fetch, commit) if task is not None]
        for task in tasks:
            task.cancel()
        if tasks:  # a handler may ignore its cancellation: wait a moment, not for ever
            await asyncio.wait(tasks, timeout=_CANCELLED_WAIT)
        for handle in self._resume_handles.values():
            handle.cancel()
        self._resume_handles.clear()
        if self._drain is not None:
            await self._drain(max(deadline - clock(), 0.0))
        await self._confirmations(max(deadline - clock(), 0.0))
        consumer, self.consumer = self.consumer, None
        try:
            async with asyncio.timeout(bound):
                await self.offsets.flush()
                if consumer is not None:
                    await consumer.stop()
        except TimeoutError:
            self._log(
                logging.WARNING,
                "%s: committing and leaving the group took longer than graceful_timeout="
                "%ss; abandoned (uncommitted messages will be delivered again)",
                self.name,
                bound,
            )
        self._assigned.clear()

    # -- rebalance ---------------------------------------------------------

    async def on_assigned(self, assigned: set[TopicPartition]) -> None:
        """Partitions were handed to this consumer."""
        if assigned:
            self._log(logging.INFO, "%s: assigned %s", self.name, _tps(assigned))
        self._assigned.set()
        if self._listener is not None:
            await self._listener.on_partitions_assigned(assigned)

    async def on_revoked(self, revoked: set[TopicPartition]) -> None:
        """Partitions are leaving: finish the message in hand and commit them first."""
        self.epoch += 1
        self._assigned.clear()  # a rebalance: joined again at its assignment
        try:
            await asyncio.wait_for(self._idle.wait(), self._graceful_timeout)
        except TimeoutError:
            self._log(
                logging.WARNING,
                "%s: a handler still runs graceful_timeout after a revoke; its message "
                "will be delivered again to the partition's next owner",
                self.name,
            )
        if self._drain is not None:
            await self._drain(self._graceful_timeout)
        await self._confirmations(self._graceful_timeout)
        await self.offsets.flush(revoked)
        self.offsets.forget(revoked)
        if revoked:
            self._log(logging.INFO, "%s: revoked %s", self.name, _tps(revoked))
        if self._listener is not None:
            await self._listener.on_partitions_revoked(revoked)

    # -- fetching ----------------------------------------------------------

    async def _fetch_loop(self) -> None:
        consumer = self.consumer
        assert consumer is not None
        enter_consumer(consumer)  # Context("handler_.consumer"), for this task
        failures = 0
        while self.running:
            unreadable = None
            try:
                batches = await consumer.getmany(self._fetch_timeout_ms, self._max_records)
            except ConsumerStopped:
                return
            except KafkaUnavailableError as exc:
                failures += 1
                delay = min(0.1 * 2**failures, _UNAVAILABLE_MAX_DELAY)
                self._log(logging.WARNING, "%s: %s; fetching again in %.1fs", self.name, exc, delay)
                await asyncio.sleep(delay)
                continue
            except UnreadableRecord as exc:
                batches, unreadable = {}, exc
            failures = 0
            if batches:
                await self._hand_out(batches)
            if unreadable is not None:
                await self._around_unreadable(unreadable)
            if time.monotonic() >= PACE.due:  # prefetched records come without a pause
                await self.breathe()

    async def _hand_out(self, batches: Batches) -> None:
        in_hand = self._in_hand
        for tp, records in batches.items():
            if records:
                in_hand[tp] = records[0].offset
        self._idle.clear()
        try:
            await self._dispatch(self, batches)
        finally:
            self._idle.set()
        in_hand.clear()

    async def _around_unreadable(self, unreadable: UnreadableRecord) -> None:
        """Hand out the readable records around the ones that cannot become messages,
        in offset order; those are poison: logged once each, and finished."""
        tp, epoch, why = unreadable.tp, self.epoch, unreadable.reason
        tracker = self.offsets.tracker(tp)
        generation = tracker.generation
        run: list[ConsumerRecord[bytes, bytes]] = []
        for offset, record in [*unreadable.records, (-1, None)]:
            if record is not None:
                run.append(record)
                continue
            if run:
                await self._hand_out({tp: run})
                run = []
            if self.epoch != epoch or tracker.generation != generation or offset < 0:
                return  # revoked, stopping or rewound: it all comes again
            where = f"topic={tp.topic} partition={tp.partition} offset={offset}"
            self._log(logging.ERROR, "poison message rejected, moving on: %s: %s", where, why)
            tracker.settle(offset, Outcome.POISON, begun=False)  # behind all delivered before
            if self.watch is not None:
                self.watch.poisoned(tp)

    async def breathe(self) -> None:
        """Let the event loop run (see :class:`topicflow._tasks.Pace`); the consume
        paths call it between messages once ``PACE.due`` has passed."""
        await PACE.breathe(self._handlers, self._logger)

    async def _recover(self) -> None:
        """After a crash of the fetch task: deliver again what the batch in hand did not finish.

        The consumer's fetch position is past the whole batch; each of its
        partitions is sought back to its first unfinished message (and the
        tracker forgets what it had begun from there), so nothing is skipped.
        """
        self._crashed.set()
        if self.watch is not None:
            self.watch.restarted()
        consumer = self.consumer
        in_hand, self._in_hand = dict(self._in_hand), {}
        self._idle.set()
        if consumer is None:
            return
        for tp, first in in_hand.items():
            tracker = self.offsets.tracker(tp)
            resume_at = tracker.first_unfinished(first)
            tracker.rewind(resume_at)
            consumer.seek(tp, resume_at)
            self._log(
                logging.WARNING,
                "%s: %s[%d] is read again from offset %d after the crash",
                self.name,
                tp.topic,
                tp.partition,
                resume_at,
            )

    # -- settling messages -------------------------------------------------

    def tracker(self, tp: TopicPartition) -> PartitionTracker:
        """The offset tracker of ``tp``."""
        return self.offsets.tracker(tp)

    def settle_later(
        self, tracker: PartitionTracker, tp: TopicPartition, offset: int, msg: KafkaMessage
    ) -> None:
        """The pipeline left the message at ``offset`` ``PENDING``: settle it later.

        Either when the cluster confirmed what its handler published
        (``msg.unconfirmed``), or when it is decided (``msg.ack()``, ...).
        """
        unconfirmed = msg.unconfirmed
        if unconfirmed:
            msg.unconfirmed = None
            self._settle_when_confirmed(tracker, tp, offset, unconfirmed)
        else:
            msg.settle = functools.partial(self._settle_late, tracker, tp, offset)

    def _settle_late(
        self, tracker: PartitionTracker, tp: TopicPartition, offset: int, outcome: Outcome
    ) -> None:
        if not tracker.settle(offset, outcome) and self.offsets.current(tp) is tracker:
            self.redeliver(tp, offset)

    def _settle_when_confirmed(
        self,
        tracker: PartitionTracker,
        tp: TopicPartition,
        offset: int,
        confirmations: Sequence[asyncio.Future[Any]],
    ) -> None:
        """Ack ``offset`` once the cluster confirmed every publish its handler made.

        Until then the message is unfinished, so no commit passes it, and the
        next message is handled meanwhile. A failed publish is logged and the
        message counts as handled (the ACK and REJECT_ON_ERROR outcome of an error).
        """
        waiting = Unconfirmed(self, tracker, tp, offset, len(confirmations))
        for future in confirmations:
            self._unconfirmed.add(future)
            future.add_done_callback(waiting.confirmed)

    async def _confirmations(self, timeout: float) -> None:
        """Let pending publish confirmations land (bounded), so their messages finish."""
        if not self._unconfirmed:
            return
        _, late = await asyncio.wait(set(self._unconfirmed), timeout=timeout)
        await asyncio.sleep(0)  # their done callbacks (which finish the messages) run now
        if late:
            self._log(
                logging.WARNING,
                "%s: %d publishes were not confirmed within graceful_timeout; their "
                "messages are not committed and will be delivered again",
                self.name,
                len(late),
            )

    def redeliver(self, tp: TopicPartition, offset: int) -> None:
        """Deliver ``offset`` and what follows it again, after a growing backoff.

        Called once the tracker was rewound to it (a NACK). Only ``tp`` pauses;
        other partitions keep flowing.
        """
        consumer = self.consumer
        if consumer is None:
            return
        attempt = self.offsets.tracker(tp).attempts(offset)
        delay = self._backoff.delay(max(attempt - 1, 0))
        self._log(
            logging.INFO,
            "%s: %s[%d]@%d nacked (attempt %d); redelivery in %.2fs",
            self.name,
            tp.topic,
            tp.partition,
            offset,
            attempt,
            delay,
        )
        consumer.seek(tp, offset)
        consumer.pause(tp)
        previous = self._resume_handles.pop(tp, None)
        if previous is not None:
            previous.cancel()
        self._resume_handles[tp] = asyncio.get_running_loop().call_later(delay, self._resume, tp)

    def _resume(self, tp: TopicPartition) -> None:
        self._resume_handles.pop(tp, None)
        if self.consumer is not None:
            self.consumer.resume(tp)

    def _log(self, level: int, text: str, *args: Any, exc_info: Any = None) -> None:
        if self._logger is not None:
            self._logger.log(level, text, *args, exc_info=exc_info)


def _tps(tps: set[TopicPartition]) -> str:
    return ", ".join(sorted(f"{tp.topic}[{tp.partition}]" for tp in tps))
