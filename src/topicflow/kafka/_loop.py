"""One Kafka consumer at work: fetching, rebalances, offsets, redelivery.

A :class:`ConsumerLoop` owns a consumer, its :class:`~topicflow.ack.OffsetCommitter`
and two tasks (fetch and commit). It hands fetched batches to its subscriber's
``process`` function and offers it :meth:`finish` and :meth:`rewind` to settle
messages. Subscriber kinds differ only in how they process a batch; the rules
that keep messages safe live here once:

- a partition's committed offset never passes an unfinished message;
- when partitions are revoked, the batch in hand stops at the message being
  handled, which finishes (bounded by ``graceful_timeout``) and is committed
  before the partitions go;
- ``stop()`` does the same for every partition, then leaves the group.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from typing import TYPE_CHECKING, Any

from topicflow.ack import OffsetCommitter, PartitionTracker
from topicflow.exceptions import KafkaUnavailableError
from topicflow.kafka._transport import ConsumerStopped

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

    from topicflow.kafka._transport import (
        ConsumerSpec,
        ConsumerTransport,
        TopicPartition,
        Transport,
    )

__all__ = ["Backoff", "ConsumerLoop"]


class Backoff:
    """Delays between redeliveries of a nacked message: ``initial * factor**attempt``,
    capped at ``maximum`` seconds."""

    __slots__ = ("factor", "initial", "maximum")

    def __init__(self, initial: float = 0.1, factor: float = 2.0, maximum: float = 5.0) -> None:
        if initial < 0 or factor < 1 or maximum < initial:
            raise ValueError(
                f"Backoff(initial={initial}, factor={factor}, maximum={maximum}): need "
                "initial >= 0, factor >= 1 and maximum >= initial"
            )
        self.initial = initial
        self.factor = factor
        self.maximum = maximum

    def delay(self, attempt: int) -> float:
        """Seconds to wait before redelivery number ``attempt + 1``."""
        return float(min(self.initial * self.factor**attempt, self.maximum))

    def __repr__(self) -> str:
        return f"Backoff(initial={self.initial}, factor={self.factor}, maximum={self.maximum})"


class ConsumerLoop:
    """A consumer, its offsets and its fetch loop, for one subscriber."""

    def __init__(
        self,
        spec: ConsumerSpec,
        process: Callable[[ConsumerLoop, Any], Awaitable[None]],
        *,
        name: str,
        logger: logging.Logger | None,
        graceful_timeout: float,
        backoff: Backoff,
        fetch_timeout_ms: int,
        max_records: int | None,
        commit_interval: float,
        listener: Any = None,
    ) -> None:
        self.spec = spec
        self.name = name
        self._process = process
        self._logger = logger
        self._graceful_timeout = graceful_timeout
        self._backoff = backoff
        self._fetch_timeout_ms = fetch_timeout_ms
        self._max_records = max_records
        self._commit_interval = commit_interval
        self._listener = listener
        self._consumer: ConsumerTransport | None = None
        self.committer: OffsetCommitter | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._resume_handles: dict[TopicPartition, asyncio.TimerHandle] = {}
        self.running = False
        #: Bumped on every revoke: a batch fetched before it is not handled further.
        self.epoch = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._assigned = asyncio.Event()
        #: Deliveries so far of each nacked message awaiting its redelivery.
        self.attempts: dict[tuple[TopicPartition, int], int] = {}
        #: Publishes of handlers that returned, whose messages finish once they are confirmed.
        self._unconfirmed: set[asyncio.Future[Any]] = set()

    @property
    def commits(self) -> bool:
        """True when this consumer commits offsets (it belongs to a group)."""
        return self.committer is not None

    # -- lifecycle ---------------------------------------------------------

    async def start(self, transport: Transport) -> None:
        """Connect, subscribe, start fetching; wait (bounded) for the first assignment."""
        consumer = transport.consumer(self.spec, self)
        await consumer.start()
        self._consumer = consumer
        self.running = True
        self._spawn(self._fetch_loop(), "fetch")
        if self.spec.group_id is not None and not self.spec.partitions:
            self.committer = OffsetCommitter(
                consumer.commit, logger=self._logger, interval=self._commit_interval
            )
            self._spawn(self.committer.run(), "commit")
            wait_s = self.spec.options.get("session_timeout_ms", 10_000) / 1000
            try:
                await asyncio.wait_for(self._assigned.wait(), wait_s)
            except TimeoutError:
                self._log(
                    logging.WARNING,
                    "%s: no partitions assigned after %.0fs; it keeps trying",
                    self.name,
                    wait_s,
                )

    async def stop(self) -> None:
        """Stop fetching, let the message in hand finish, commit, leave the group."""
        if not self.running:
            return
        self.running = False
        fetch = [task for task in self._tasks if task.get_name().endswith(":fetch")]
        if fetch:
            _, late = await asyncio.wait(fetch, timeout=self._graceful_timeout)
            if late:
                self._log(
                    logging.WARNING,
                    "%s: a handler outlived graceful_timeout=%ss and was cancelled; its "
                    "message is not committed and will be delivered again",
                    self.name,
                    self._graceful_timeout,
                )
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        for handle in self._resume_handles.values():
            handle.cancel()
        self._resume_handles.clear()
        await self._confirmations()
        if self.committer is not None:
            await self.committer.flush()
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            await consumer.stop()
        self._assigned.clear()

    def _spawn(self, coro: Awaitable[None], what: str) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        task.set_name(f"topicflow:{self.name}:{what}")
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and (exc := task.exception()) is not None:
            self._log(
                logging.CRITICAL,
                "%s: task %s crashed; consumption stopped: %r",
                self.name,
                task.get_name(),
                exc,
                exc_info=exc,
            )

    # -- rebalance ---------------------------------------------------------

    async def on_assigned(self, assigned: set[TopicPartition]) -> None:
        """Partitions were handed to this consumer."""
        if assigned:
            self._log(logging.INFO, "%s: assigned %s", self.name, _tps(assigned))
        self._assigned.set()
        await self._call_listener("on_partitions_assigned", assigned)

    async def on_revoked(self, revoked: set[TopicPartition]) -> None:
        """Partitions are leaving: finish the message in hand and commit them first."""
        self.epoch += 1
        try:
            await asyncio.wait_for(self._idle.wait(), self._graceful_timeout)
        except TimeoutError:
            self._log(
                logging.WARNING,
                "%s: a handler still runs graceful_timeout after a revoke; its message "
                "will be delivered again to the partition's next owner",
                self.name,
            )
        await self._confirmations()
        if self.committer is not None:
            await self.committer.flush(revoked)
            self.committer.forget(revoked)
        if revoked:
            self._log(logging.INFO, "%s: revoked %s", self.name, _tps(revoked))
        await self._call_listener("on_partitions_revoked", revoked)

    async def _call_listener(self, method: str, tps: set[TopicPartition]) -> None:
        if self._listener is None:
            return
        result = getattr(self._listener, method)(tps)
        if inspect.isawaitable(result):
            await result

    # -- fetching ----------------------------------------------------------

    async def _fetch_loop(self) -> None:
        consumer = self._consumer
        assert consumer is not None
        failures = 0
        while self.running:
            try:
                batches = await consumer.getmany(self._fetch_timeout_ms, self._max_records)
            except ConsumerStopped:
                return
            except KafkaUnavailableError as exc:
                failures += 1
                delay = min(0.1 * 2**failures, 5.0)
                self._log(logging.WARNING, "%s: %s; fetching again in %.1fs", self.name, exc, delay)
                await asyncio.sleep(delay)
                continue
            failures = 0
            if batches:
                self._idle.clear()
                try:
                    await self._process(self, batches)
                finally:
                    self._idle.set()

    def active(self, epoch: int) -> bool:
        """True while a batch fetched at ``epoch`` may still be handled."""
        return self.running and epoch == self.epoch

    # -- settling messages -------------------------------------------------

    def tracker(self, tp: TopicPartition) -> PartitionTracker | None:
        """The offset tracker of ``tp`` (None when this consumer commits nothing)."""
        return self.committer.tracker(tp) if self.committer is not None else None

    def finish(
        self, tp: TopicPartition, offset: int, tracker: PartitionTracker | None = None
    ) -> None:
        """``offset`` is acked or rejected: its position may be committed.

        ``tracker`` is ``tp``'s, when the caller has it at hand (saves a lookup).
        """
        if self.attempts:
            self.attempts.pop((tp, offset), None)
        committer = self.committer
        if committer is not None:
            (tracker or committer.tracker(tp)).finish(offset)
            committer.note_finished()

    def finish_many(self, tp: TopicPartition, offsets: Sequence[int]) -> None:
        """Every offset in ``offsets`` (of ``tp``, in delivery order) is finished."""
        if self.attempts:
            for offset in offsets:
                self.attempts.pop((tp, offset), None)
        committer = self.committer
        if committer is not None:
            committer.tracker(tp).finish_many(offsets)
            committer.note_finished(len(offsets))

    def finish_when_confirmed(
        self,
        tp: TopicPartition,
        offset: int,
        confirmations: Sequence[asyncio.Future[Any]],
    ) -> None:
        """Finish ``offset`` once the cluster confirmed every publish its handler made.

        Until then the message is unfinished, so no commit passes it, and the
        next message is handled meanwhile. A failed publish is logged and the
        message counts as handled (the ACK and REJECT_ON_ERROR outcome of an error).
        """
        left = len(confirmations)
        failures: list[BaseException] = []

        def confirmed(future: asyncio.Future[Any]) -> None:
            nonlocal left
            self._unconfirmed.discard(future)
            if future.cancelled():
                failures.append(asyncio.CancelledError())
            elif (exc := future.exception()) is not None:
                failures.append(exc)
            left -= 1
            if left:
                return
            if failures:
                self._log(
                    logging.ERROR,
                    "%s: publishing what the handler returned for %s[%d]@%d failed: %r; "
                    "the message counts as handled",
                    self.name,
                    tp.topic,
                    tp.partition,
                    offset,
                    failures[0],
                )
            self.finish(tp, offset)

        for future in confirmations:
            self._unconfirmed.add(future)
            future.add_done_callback(confirmed)

    async def _confirmations(self) -> None:
        """Let pending publish confirmations land (bounded), so their messages finish."""
        if not self._unconfirmed:
            return
        _, late = await asyncio.wait(set(self._unconfirmed), timeout=self._graceful_timeout)
        await asyncio.sleep(0)  # their done callbacks (which finish the messages) run now
        if late:
            self._log(
                logging.WARNING,
                "%s: %d publishes were not confirmed within graceful_timeout; their "
                "messages are not committed and will be delivered again",
                self.name,
                len(late),
            )

    def rewind(self, tp: TopicPartition, offset: int) -> None:
        """Deliver ``offset`` and what follows it again, after a growing backoff.

        Only ``tp`` pauses; other partitions keep flowing.
        """
        consumer = self._consumer
        if consumer is None:
            return
        if self.committer is not None:
            self.committer.tracker(tp).rewind(offset)
        attempt = self.attempts.get((tp, offset), 0)
        self.attempts[(tp, offset)] = attempt + 1
        delay = self._backoff.delay(attempt)
        self._log(
            logging.INFO,
            "%s: %s[%d]@%d nacked (attempt %d); redelivery in %.2fs",
            self.name,
            tp.topic,
            tp.partition,
            offset,
            attempt + 1,
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
        if self._consumer is not None:
            self._consumer.resume(tp)

    def _log(self, level: int, text: str, *args: Any, exc_info: Any = None) -> None:
        if self._logger is not None:
            self._logger.log(level, text, *args, exc_info=exc_info)


def _tps(tps: set[TopicPartition]) -> str:
    return ", ".join(sorted(f"{tp.topic}[{tp.partition}]" for tp in tps))
