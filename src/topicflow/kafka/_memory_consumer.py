"""The consumer side of the in-memory Kafka: consumer groups and consumers.

See :mod:`topicflow.kafka._memory` for what is modelled and why.
"""

from __future__ import annotations

import asyncio
import re
from typing import TYPE_CHECKING, Literal

from topicflow.exceptions import CommitError, SetupError
from topicflow.kafka._seam import ConsumerStopped
from topicflow.kafka._transport import ConsumerRecord, TopicPartition

if TYPE_CHECKING:
    import logging
    from collections.abc import Iterable, Mapping, Sequence

    from topicflow.kafka._memory import MemoryKafka
    from topicflow.kafka._seam import RebalanceHandler
    from topicflow.kafka._transport import ConsumerSpec

__all__ = ["MemoryConsumer", "MemoryGroup"]

Record = ConsumerRecord[bytes, bytes]

#: aiokafka's ``max_poll_records`` default: the batch bound when the caller gives none.
_MAX_POLL_RECORDS = 500
#: How long an empty poll waits while :meth:`MemoryKafka.stopping` is in force, in seconds.
_SHORT_POLL = 0.005


class MemoryGroup:
    """A consumer group: members, the current assignment, committed offsets."""

    def __init__(self, cluster: MemoryKafka, group_id: str) -> None:
        self.cluster = cluster
        self.group_id = group_id
        self.members: list[MemoryConsumer] = []
        self.generation = 0
        self.assignment: dict[MemoryConsumer, frozenset[TopicPartition]] = {}
        # Who fetches a partition now: the previous owner keeps it until its on_revoked ran.
        self.owners: dict[TopicPartition, MemoryConsumer] = {}
        self.committed: dict[TopicPartition, int] = {}
        # Where a partition without a committed offset starts (auto_offset_reset, resolved
        # when the partition entered the subscription).
        self.starts: dict[TopicPartition, int] = {}

    def join(self, member: MemoryConsumer) -> None:
        self.members.append(member)
        self.rebalance()

    def leave(self, member: MemoryConsumer) -> None:
        # Like aiokafka's stop(): no on_revoked for the leaver; the others rebalance.
        self.members.remove(member)
        self.release(member, [tp for tp, owner in self.owners.items() if owner is member])
        if not self.members:
            self.starts.clear()
        self.rebalance()

    def rebalance(self) -> None:
        self.generation += 1
        members = self.members
        assigned: dict[MemoryConsumer, set[TopicPartition]] = {m: set() for m in members}
        if members:
            wanted = sorted(
                tp
                for topic in self.cluster.topics()
                if any(m.covers(topic) for m in members)
                for tp in self.cluster._partitions_of(topic)
            )
            turn = 0
            for tp in wanted:
                while not members[turn % len(members)].covers(tp.topic):
                    turn += 1
                owner = members[turn % len(members)]
                turn += 1
                assigned[owner].add(tp)
                if tp not in self.committed and tp not in self.starts:
                    start = owner.reset_offset(tp)
                    if start is not None:
                        self.starts[tp] = start
        self.assignment = {m: frozenset(tps) for m, tps in assigned.items()}
        for member in members:
            member.wake()

    def release(self, member: MemoryConsumer, tps: Iterable[TopicPartition]) -> None:
        for tp in tps:
            if self.owners.get(tp) is member:
                del self.owners[tp]
        for other in self.members:
            other.wake()

    def start_offset(self, tp: TopicPartition, member: MemoryConsumer) -> int:
        committed = self.committed.get(tp)
        if committed is not None:
            return committed
        start = self.starts.get(tp)
        return start if start is not None else member.start_offset(tp)


_State = Literal["new", "started", "stopped"]


class MemoryConsumer:
    """One consumer of the in-memory cluster: a :class:`ConsumerTransport`."""

    def __init__(
        self,
        cluster: MemoryKafka,
        spec: ConsumerSpec,
        rebalance: RebalanceHandler,
        logger: logging.Logger | None,
    ) -> None:
        self._cluster = cluster
        self._spec = spec
        self._rebalance = rebalance
        self._logger = logger
        self._pattern = re.compile(spec.pattern) if spec.pattern is not None else None
        self._reset = str(spec.options.get("auto_offset_reset", "latest"))
        self._max_poll = int(spec.options.get("max_poll_records") or _MAX_POLL_RECORDS)
        self._state: _State = "new"
        self.group: MemoryGroup | None = None
        self.assignment: frozenset[TopicPartition] = frozenset()
        self._generation = 0
        self._positions: dict[TopicPartition, int] = {}
        self._paused: set[TopicPartition] = set()
        self._wake = asyncio.Event()
        self._turn = 0

    # -- subscription ------------------------------------------------------------

    def covers(self, topic: str) -> bool:
        """True when this consumer's subscription takes ``topic`` (manual ones take none)."""
        if self._spec.partitions:
            return False
        if self._pattern is not None:
            return self._pattern.match(topic) is not None
        return topic in self._spec.topics

    def reset_offset(self, tp: TopicPartition) -> int | None:
        """Where ``auto_offset_reset`` starts ``tp``; None for ``"none"``."""
        if self._reset == "earliest":
            return 0
        if self._reset == "latest":
            return self._cluster.end_offset(tp)
        return None

    def start_offset(self, tp: TopicPartition) -> int:
        """The first offset to fetch from ``tp`` when nothing else decided it."""
        if self._spec.group_id is not None:
            committed = self._cluster._group(self._spec.group_id).committed.get(tp)
            if committed is not None:
                return committed
        start = self.reset_offset(tp)
        if start is None:
            raise SetupError(
                f"{tp.topic}[{tp.partition}] has no committed offset and "
                "auto_offset_reset='none'; commit an offset first, or use 'earliest' "
                "or 'latest'"
            )
        return start

    def extend(self, tps: Iterable[TopicPartition]) -> None:
        """A groupless subscriber takes the partitions of a topic that just appeared."""
        new = [tp for tp in tps if tp not in self.assignment]
        for tp in new:
            self._positions[tp] = self.start_offset(tp)
        self.assignment = self.assignment | frozenset(new)
        self.wake()

    def wake(self) -> None:
        self._wake.set()

    # -- ConsumerTransport -------------------------------------------------------

    async def start(self) -> None:
        if self._state != "new":
            return
        spec = self._spec
        cluster = self._cluster
        for topic in spec.topics:
            cluster._ensure_topic(topic)
        for tp in spec.partitions:
            cluster._ensure_topic(tp.topic)
        self._state = "started"
        cluster._consumers.append(self)
        if spec.partitions:
            self.assignment = frozenset(spec.partitions)
            for tp in self.assignment:
                self._positions[tp] = self.start_offset(tp)
        elif spec.group_id is not None:
            self.group = cluster._group(spec.group_id)
            self.group.join(self)
        else:
            self.extend(
                tp
                for topic in cluster.topics()
                if self.covers(topic)
                for tp in cluster._partitions_of(topic)
            )

    async def stop(self) -> None:
        if self._state == "started":
            self._cluster._consumers.remove(self)
            if self.group is not None:
                self.group.leave(self)
        self._state = "stopped"
        self.wake()

    async def getmany(
        self, timeout_ms: int, max_records: int | None
    ) -> Mapping[TopicPartition, Sequence[Record]]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_ms / 1000
        while True:
            if self._state != "started":
                raise ConsumerStopped
            # Cleared before looking, so a change made while we look wakes the next wait.
            self._wake.clear()
            await self._sync_group()
            if self._state != "started":
                raise ConsumerStopped
            batches = self._fetch(max_records if max_records is not None else self._max_poll)
            if batches:
                return batches
            remaining = deadline - loop.time()
            if remaining <= 0:
                return {}
            if self._cluster.short_polls:
                # Consumers are being stopped: an empty poll now lets their fetch loops
                # see it at once rather than at the end of fetch_timeout_ms.
                remaining = min(remaining, _SHORT_POLL)
            try:
                async with asyncio.timeout(remaining):
                    await self._wake.wait()
            except TimeoutError:
                return {}

    async def commit(self, offsets: Mapping[TopicPartition, int]) -> None:
        if self._state != "started":
            raise CommitError("the consumer is stopped; nothing was committed")
        group_id = self._spec.group_id
        if group_id is None:
            raise CommitError("a consumer without a group_id has no offsets to commit")
        if not self._spec.partitions:
            foreign = sorted(tp for tp in offsets if tp not in self.assignment)
            if foreign:
                raise CommitError(
                    f"{_describe(foreign)} not assigned to this member of group "
                    f"{group_id!r} (a rebalance moved them); nothing was committed"
                )
        self._cluster._group(group_id).committed.update(offsets)

    def seek(self, tp: TopicPartition, offset: int) -> None:
        if offset < 0:
            raise ValueError(f"offset must be a non-negative integer, got {offset}")
        # A partition no longer ours is not ours to move (its next owner starts from the
        # committed offset).
        if tp in self.assignment:
            self._positions[tp] = offset
            self.wake()

    def pause(self, tp: TopicPartition) -> None:
        if tp in self.assignment:
            self._paused.add(tp)

    def resume(self, tp: TopicPartition) -> None:
        if tp in self._paused:
            self._paused.discard(tp)
            self.wake()

    def ends(self) -> Mapping[TopicPartition, int | None]:
        return {tp: self._cluster.end_offset(tp) for tp in self.assignment}

    # -- internals ---------------------------------------------------------------

    async def _sync_group(self) -> None:
        """Take part in a pending rebalance: revoke everything, then take the new share."""
        group = self.group
        while group is not None and self._state == "started":
            if self._generation == group.generation:
                return
            revoked = self.assignment
            await self._callback("on_revoked", set(revoked))
            if self._state != "started":
                return
            group.release(self, revoked)
            for tp in revoked:
                self._positions.pop(tp, None)
                self._paused.discard(tp)
            self._generation = group.generation
            self.assignment = group.assignment.get(self, frozenset())
            await self._callback("on_assigned", set(self.assignment))

    async def _callback(self, name: str, tps: set[TopicPartition]) -> None:
        try:
            if name == "on_revoked":
                await self._rebalance.on_revoked(tps)
            else:
                await self._rebalance.on_assigned(tps)
        except Exception:
            # As aiokafka does: a failing listener is logged, the rebalance goes on.
            if self._logger is not None:
                self._logger.exception("rebalance listener %s(%s) failed", name, _describe(tps))

    def _fetch(self, budget: int) -> dict[TopicPartition, list[Record]]:
        tps = sorted(self.assignment)
        if not tps:
            return {}
        # Start from a different partition each time, so one busy partition
        # cannot starve the others when the batch is bounded.
        first = self._turn % len(tps)
        self._turn += 1
        batches: dict[TopicPartition, list[Record]] = {}
        for tp in tps[first:] + tps[:first]:
            if tp in self._paused or not self._claim(tp):
                continue
            log = self._cluster.records(tp)
            position = self._positions[tp]
            if position < len(log):
                batch = list(log[position : position + budget])
                batches[tp] = batch
                self._positions[tp] = position + len(batch)
                budget -= len(batch)
                if budget <= 0:
                    break
        return batches

    def _claim(self, tp: TopicPartition) -> bool:
        """Own ``tp`` for fetching, once its previous owner let go; set its position."""
        group = self.group
        if group is not None:
            owner = group.owners.get(tp)
            if owner is not None and owner is not self:
                return False
            if owner is None:
                group.owners[tp] = self
                self._positions.setdefault(tp, group.start_offset(tp, self))
        elif tp not in self._positions:
            self._positions[tp] = self.start_offset(tp)
        return True


def _describe(tps: Iterable[TopicPartition]) -> str:
    return ", ".join(f"{tp.topic}[{tp.partition}]" for tp in sorted(tps)) or "nothing"
