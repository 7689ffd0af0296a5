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
from typing import TYPE_CHECKING

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
    on exit, and returns it::

        async with TestKafkaBroker(broker) as br:
            await br.publish({"id": 1}, "orders")
            handle.mock.assert_called_once_with({"id": 1})

    Args:
        broker: a broker that is not connected yet.
        with_real: keep the broker's real transport (its ``bootstrap_servers``);
            the mocks, ``wait_call`` and waiting publishes work the same.
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
        broker: KafkaBroker,
        with_real: bool = False,
        *,
        partitions: Mapping[str, int] | None = None,
    ) -> None:
        self.broker = broker
        self.with_real = with_real
        self.partitions = dict(partitions or {})
        self._cluster: _Cluster | None = None
        self._instruments: Instruments | None = None

    async def __aenter__(self) -> KafkaBroker:
        broker = self.broker
        if broker.observer is not None:
            raise SetupError(f"{broker!r} is already under a TestKafkaBroker")
        if broker.connected:
            raise SetupError(
                f"{broker!r} is connected already; enter TestKafkaBroker(broker) before "
                "'async with broker', broker.connect() or broker.start()"
            )
        cluster = self._cluster = _acquire(self.with_real, broker.options.servers_text)
        try:
            memory = cluster.memory
            inner: Callable[[Callable[[], Transport]], Transport]
            if memory is not None:
                for name, count in self.partitions.items():
                    memory.create_topic(name, count)
                inner = lambda _default: MemoryTransport(memory, broker.logger)  # noqa: E731
            else:
                inner = _the_real_one
            instruments = self._instruments = Instruments(broker, cluster.ledger, inner)
            broker.observe(instruments)
            await broker.start()
            instruments.attach_publishers()
        except BaseException:
            await self._leave()
            raise
        return broker

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._leave()

    async def _leave(self) -> None:
        instruments = self._instruments
        try:
            # Each fetch loop notices stop() only when its current getmany returns (up to
            # fetch_timeout_ms): in memory, make empty polls short meanwhile.
            memory = self._cluster.memory if self._cluster is not None else None
            with memory.stopping() if memory is not None else contextlib.nullcontext():
                await self.broker.stop()
        finally:
            if instruments is not None:
                self.broker.observe(None)
                instruments.strip()
                self._instruments = None
            if self._cluster is not None:
                _release(self.with_real, self.broker.options.servers_text)
                self._cluster = None

    # -- the in-memory cluster -----------------------------------------------------

    def create_topic(self, name: str, partitions: int = 1) -> None:
        """Create an in-memory topic with ``partitions`` partitions (while entered)."""
        self._memory().create_topic(name, partitions)

    def committed_offsets(self, group_id: str) -> dict[TopicPartition, int]:
        """The offsets ``group_id`` committed on the in-memory cluster (while entered)."""
        return self._memory().committed(group_id)

    def _memory(self) -> MemoryKafka:
        if self._cluster is None or self._cluster.memory is None:
            raise SetupError(
                "the in-memory cluster exists only inside 'async with TestKafkaBroker(broker)' "
                "without with_real=True; on a real cluster use Kafka's admin tools"
            )
        return self._cluster.memory


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
