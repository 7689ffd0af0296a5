"""What the consume path reports as it works, to whoever watches it (metrics).

A :class:`Watcher` (``KafkaPrometheusMiddleware`` is one) is listed among a
subscriber's middlewares; for each consumer group it gives a
:class:`ConsumerWatch`, which the consume path tells:

- what a fetch learned: per partition, the offset after the last record handed
  out and the partition's end (high watermark, or last stable offset under
  ``read_committed``), as the client read them from its fetch response;
- the positions committed (:class:`~topicflow.ack.OffsetCommitter`'s commits);
- assignments and revokes (a rebalance);
- each poison message rejected, and each restart of the fetch loop after a crash;
- each failed message sent to retry or to the dead-letter topic (``kafka/_retry.py``).

Fetches and commits are seen at the seam: :func:`watched` wraps a consumer in
a :class:`WatchedConsumer` when there is a watch, and gives the consumer itself
when there is none, so a subscriber without a watcher runs exactly as before.
Rebalances reach the watch as a rebalance listener (:func:`listening`, called
after the framework handled them). Poison and restarts are told by the fetch
loop and the pipeline, one call each, on their (rare) paths.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from topicflow.kafka._options import ConsumerSpec
    from topicflow.kafka._seam import ConsumerTransport, RebalanceHandler, Transport
    from topicflow.kafka._transport import ConsumerRecord, TopicPartition

__all__ = [
    "ConsumerWatch",
    "Listener",
    "Progress",
    "WatchedConsumer",
    "Watcher",
    "listening",
    "watch_of",
    "watched",
]

#: What a fetch learned of one partition: its first offset and the offset after its
#: last (None, None when it brought no record of it), and the partition's end.
Progress = tuple[int | None, int | None, int | None]


class ConsumerWatch(Protocol):
    """What the consumers of one group (or one groupless consumer) report."""

    def fetched(self, progress: Mapping[TopicPartition, Progress]) -> None:
        """What a fetch learned of each partition the consumer owns: the first offset
        it brought and the offset after its last (both None when it brought none of
        that partition), and the partition's end as the client knows it (None while
        it knows none)."""

    def committed(self, offsets: Mapping[TopicPartition, int]) -> None:
        """These positions were committed."""

    def assigned(self, tps: set[TopicPartition]) -> None:
        """A rebalance handed these partitions to the consumer (maybe none)."""

    def revoked(self, tps: set[TopicPartition]) -> None:
        """These partitions left the consumer (revoked, or the consumer stopped)."""

    def poisoned(self, tp: TopicPartition) -> None:
        """A poison message of ``tp`` was rejected."""

    def restarted(self) -> None:
        """The fetch loop crashed and is started again."""

    def retried(self, tp: TopicPartition) -> None:
        """A failed message first read from ``tp`` was sent to retry (``retry=``)."""

    def dead_lettered(self, tp: TopicPartition) -> None:
        """A message first read from ``tp`` was written to its dead-letter topic."""


@runtime_checkable
class Watcher(Protocol):
    """Gives the watch of each consumer group of the subscribers it is a middleware of."""

    def watch_consumer(self, group_id: str | None) -> ConsumerWatch:
        """The watch of ``group_id`` (None: a consumer outside any group)."""


def watch_of(middlewares: Sequence[object], group_id: str | None) -> ConsumerWatch | None:
    """The watch the watchers among ``middlewares`` give for ``group_id``; None without one."""
    watches = [m.watch_consumer(group_id) for m in middlewares if isinstance(m, Watcher)]
    if not watches:
        return None
    return watches[0] if len(watches) == 1 else _Watches(watches)


def listening(listener: Any, watch: ConsumerWatch | None) -> Listener | None:
    """What a fetch loop calls after each assignment and revoke: the user's ``listener``
    (sync or async methods), and the watch; None when there is neither."""
    return None if listener is None and watch is None else Listener(listener, watch)


def watched(
    transport: Transport,
    spec: ConsumerSpec,
    handler: RebalanceHandler,
    watch: ConsumerWatch | None,
) -> ConsumerTransport:
    """A new consumer of ``transport`` for ``spec``, reporting to ``watch`` if there is one."""
    consumer = transport.consumer(spec, handler)
    return consumer if watch is None else WatchedConsumer(consumer, watch)


class WatchedConsumer:
    """A consumer that reports its fetches, commits and stop to a :class:`ConsumerWatch`."""

    def __init__(self, inner: ConsumerTransport, watch: ConsumerWatch) -> None:
        self.inner = inner
        self._watch = watch
        #: The partitions it owned at the last fetch.
        self._owned: set[TopicPartition] = set()

    @property
    def driver(self) -> object:
        """The client's consumer behind it (``Context("handler_.consumer")``)."""
        return getattr(self.inner, "driver", self.inner)

    async def start(self) -> None:
        await self.inner.start()

    async def stop(self) -> None:
        owned, self._owned = self._owned, set()
        try:
            await self.inner.stop()
        finally:
            self._watch.revoked(owned)

    async def getmany(
        self, timeout_ms: int, max_records: int | None
    ) -> Mapping[TopicPartition, Sequence[ConsumerRecord[bytes, bytes]]]:
        inner = self.inner
        batches = await inner.getmany(timeout_ms, max_records)
        # Every partition owned, fetched or not: an empty fetch says it is at its end.
        ends = inner.ends()
        progress: dict[TopicPartition, Progress] = {}
        for tp, end in ends.items():
            records = batches.get(tp)
            if records:
                progress[tp] = (records[0].offset, records[-1].offset + 1, end)
            else:
                progress[tp] = (None, None, end)
        self._owned = set(ends)
        if progress:
            self._watch.fetched(progress)
        return batches

    async def commit(self, offsets: Mapping[TopicPartition, int]) -> None:
        await self.inner.commit(offsets)
        self._watch.committed(offsets)

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.inner.seek(tp, offset)

    def pause(self, tp: TopicPartition) -> None:
        self.inner.pause(tp)

    def resume(self, tp: TopicPartition) -> None:
        self.inner.resume(tp)

    def ends(self) -> Mapping[TopicPartition, int | None]:
        return self.inner.ends()


class Listener:
    """The user's rebalance listener and the watch (either may be None), as one."""

    def __init__(self, listener: Any, watch: ConsumerWatch | None) -> None:
        self._listener = listener
        self._watch = watch

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        if self._watch is not None:
            self._watch.revoked(revoked)
        await self._call("on_partitions_revoked", revoked)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        if self._watch is not None:
            self._watch.assigned(assigned)
        await self._call("on_partitions_assigned", assigned)

    async def _call(self, method: str, tps: set[TopicPartition]) -> None:
        if self._listener is not None:
            result = getattr(self._listener, method)(tps)
            if inspect.isawaitable(result):
                await result


class _Watches:
    """Several watches as one (several watchers among a subscriber's middlewares)."""

    def __init__(self, watches: Iterable[ConsumerWatch]) -> None:
        self._watches = tuple(watches)

    def fetched(self, progress: Mapping[TopicPartition, Progress]) -> None:
        for watch in self._watches:
            watch.fetched(progress)

    def committed(self, offsets: Mapping[TopicPartition, int]) -> None:
        for watch in self._watches:
            watch.committed(offsets)

    def assigned(self, tps: set[TopicPartition]) -> None:
        for watch in self._watches:
            watch.assigned(tps)

    def revoked(self, tps: set[TopicPartition]) -> None:
        for watch in self._watches:
            watch.revoked(tps)

    def poisoned(self, tp: TopicPartition) -> None:
        for watch in self._watches:
            watch.poisoned(tp)

    def restarted(self) -> None:
        for watch in self._watches:
            watch.restarted()

    def retried(self, tp: TopicPartition) -> None:
        for watch in self._watches:
            watch.retried(tp)

    def dead_lettered(self, tp: TopicPartition) -> None:
        for watch in self._watches:
            watch.dead_lettered(tp)
