"""TestKafkaBroker: run a service's handlers in tests, on an in-memory Kafka or a real one.

Under ``async with TestKafkaBroker(broker):`` the broker's transport is an
in-memory Kafka cluster (:mod:`topicflow.kafka._memory`): the same subscribers,
fetch loops, offset commits and rebalances run as in production, only the
cluster is a Python object. ``with_real=True`` keeps the real transport and
gives the same test helpers.

In both modes the test broker observes the transport (:mod:`topicflow.kafka._delivery`):

* ``await broker.publish(...)`` made by the test returns once every subscriber
  of this process that receives the record has handled it, and everything its
  handlers published in turn; a publish made by a handler does not wait.
* ``subscriber.mock`` and ``publisher.mock`` (``unittest.mock.MagicMock``)
  record the decoded bodies handled and published while under test, and
  ``await subscriber.wait_call(timeout)`` waits for a call.

Runtime classes carry no test attributes: the test broker installs one
observer on the broker (``broker.observe(...)``, :mod:`topicflow.kafka._instruments`)
while it is entered, which chooses the transport and sees each subscriber's
pipeline; what it sets on instances is removed on exit.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from topicflow.exceptions import SetupError
from topicflow.kafka._delivery import DeliveryLedger
from topicflow.kafka._instruments import Instruments
from topicflow.kafka._memory import MemoryKafka, MemoryTransport

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from types import TracebackType

    from topicflow.kafka._seam import Transport
    from topicflow.kafka._transport import TopicPartition
    from topicflow.kafka.broker.broker import KafkaBroker

__all__ = ["TestKafkaBroker"]

#: How long a publish under ``with_real=True`` waits for the handlers before it raises.
REAL_DELIVERY_TIMEOUT = 30.0


@dataclass(eq=False)
class _Cluster:
    """What brokers under test at the same time on one address share: the cluster and
    its ledger."""

    ledger: DeliveryLedger
    memory: MemoryKafka | None
    users: int = 0


# Brokers under test at the same time with the same bootstrap servers share one
# cluster, as they would share a real one. It lives while one of them is under test.
_CLUSTERS: dict[tuple[bool, str], _Cluster] = {}


class TestKafkaBroker:
    """Run ``broker`` in a test: on an in-memory Kafka, or on the real one.

    Use it as an async context manager; it starts the broker on enter, stops it
    on exit, and returns it (several brokers: a tuple of them)::

        async with TestKafkaBroker(broker) as br:
            await br.publish({"id": 1}, "orders")
            handle.mock.assert_called_once_with({"id": 1})

    A handler's exception is raised out of the test's ``await br.publish(...)``
    (and ``br.request(...)``) that led to it, as with FastStream's test client.

    Args:
        brokers: brokers that are not connected yet.
        with_real: keep the broker's real transport (its ``bootstrap_servers``);
            the mocks, ``wait_call`` and waiting publishes work the same.
        connect_only: connect without starting the subscribers (start them with
            ``await br.start()``, or with ``TestApp``); None (FastStream's
            default) is False here: the broker starts.
        partitions: partition counts of in-memory topics, e.g. ``{"orders": 6}``;
            other topics get one partition when first used. Ignored with
            ``with_real=True``, where the cluster's topics are what they are.

    Brokers under test at the same time with the same ``bootstrap_servers``
    share one in-memory cluster (so two services can talk); it starts empty when
    the first enters and is dropped when the last leaves.
    """

    __test__ = False  # not a pytest test class, despite the name

    def __init__(
        self,
        *brokers: KafkaBroker,
        with_real: bool = False,
        connect_only: bool | None = None,
        partitions: Mapping[str, int] | None = None,
    ) -> None:
        if not brokers:
            raise SetupError("TestKafkaBroker(broker) needs the broker to test")
        self.brokers = brokers
        self.broker = brokers[0]
        self.with_real = with_real
        self.connect_only = bool(connect_only)
        self.partitions = dict(partitions or {})
        self._entered: list[_Entered] = []

    async def __aenter__(self) -> Any:
        try:
            for broker in self.brokers:
                await self._enter(broker)
        except BaseException:
            await self._leave()
            raise
        if len(self.brokers) == 1:
            return self.broker
        return self.brokers

    async def _enter(self, broker: KafkaBroker) -> None:
        if broker.observer is not None:
            raise SetupError(f"{broker!r} is already under a TestKafkaBroker")
        if broker.connected:
            raise SetupError(
                f"{broker!r} is connected already; enter TestKafkaBroker(broker) before "
                "'async with broker', broker.connect() or broker.start()"
            )
        servers = broker.options.servers_text
        cluster = _acquire(self.with_real, servers)
        entered = _Entered(broker, cluster, None)
        self._entered.append(entered)
        memory = cluster.memory
        inner: Callable[[Callable[[], Transport]], Transport]
        if memory is not None:
            for name, count in self.partitions.items():
                memory.create_topic(name, count)
            inner = lambda _default: MemoryTransport(memory, broker.logger)  # noqa: E731
        else:
            inner = _the_real_one
        instruments = entered.instruments = Instruments(broker, cluster.ledger, inner)
        broker.observe(instruments)
        if self.connect_only:
            await broker.connect()
            broker.resolve()  # its publishers as start() will bind them: for their mocks
        else:
            await broker.start()
        instruments.attach_publishers()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._leave()

    async def _leave(self) -> None:
        entered, self._entered = self._entered, []
        for one in reversed(entered):
            await one.leave(self.with_real)

    # -- the in-memory cluster -----------------------------------------------------

    def create_topic(self, name: str, partitions: int = 1) -> None:
        """Create an in-memory topic with ``partitions`` partitions (while entered)."""
        self._memory().create_topic(name, partitions)

    def committed_offsets(self, group_id: str) -> dict[TopicPartition, int]:
        """The offsets ``group_id`` committed on the in-memory cluster (while entered)."""
        return self._memory().committed(group_id)

    def _memory(self) -> MemoryKafka:
        cluster = self._entered[0].cluster if self._entered else None
        if cluster is None or cluster.memory is None:
            raise SetupError(
                "the in-memory cluster exists only inside 'async with TestKafkaBroker(broker)' "
                "without with_real=True; on a real cluster use Kafka's admin tools"
            )
        return cluster.memory


@dataclass(eq=False)
class _Entered:
    """One broker under test: its cluster, and the observer installed on it."""

    broker: KafkaBroker
    cluster: _Cluster
    instruments: Instruments | None

    async def leave(self, real: bool) -> None:
        broker = self.broker
        try:
            # Each fetch loop notices stop() only when its current getmany returns (up to
            # fetch_timeout_ms): in memory, make empty polls short meanwhile.
            memory = self.cluster.memory
            with memory.stopping() if memory is not None else contextlib.nullcontext():
                await broker.stop()
        finally:
            if self.instruments is not None:
                broker.observe(None)
                self.instruments.strip()
                self.instruments = None
            _release(real, broker.options.servers_text)


def _the_real_one(default: Callable[[], Transport]) -> Transport:
    return default()


def _acquire(real: bool, servers: str) -> _Cluster:
    key = (real, servers)
    cluster = _CLUSTERS.get(key)
    if cluster is None:
        if real:
            cluster = _Cluster(DeliveryLedger(timeout=REAL_DELIVERY_TIMEOUT), None)
        else:
            cluster = _Cluster(DeliveryLedger(), MemoryKafka())
        _CLUSTERS[key] = cluster
    cluster.users += 1
    return cluster


def _release(real: bool, servers: str) -> None:
    key = (real, servers)
    cluster = _CLUSTERS.get(key)
    if cluster is None:
        return
    cluster.users -= 1
    if cluster.users <= 0:
        del _CLUSTERS[key]
        cluster.ledger.close()
