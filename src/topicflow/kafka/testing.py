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
  ``await subscriber.wait_call(timeout)`` waits for a call. They are attached
  on enter and removed on exit: runtime classes carry no test attributes.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from topicflow._codec import decode_body
from topicflow.exceptions import DecodeError, SetupError
from topicflow.kafka._delivery import DeliveryLedger, ObservedTransport
from topicflow.kafka._memory import MemoryKafka, MemoryTransport

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from types import TracebackType
    from unittest.mock import MagicMock

    from topicflow._di import HandlerPlan
    from topicflow.kafka._transport import TopicPartition, Transport
    from topicflow.kafka.broker.broker import KafkaBroker
    from topicflow.kafka.message import KafkaMessage

__all__ = ["TestKafkaBroker"]

#: How long a publish under ``with_real=True`` waits for the handlers before it raises.
REAL_DELIVERY_TIMEOUT = 30.0
#: The default of ``wait_call(timeout)``, in seconds.
WAIT_CALL_TIMEOUT = 10.0

# Attribute names set on subscribers and publishers while under test.
_MOCK = "mock"
_WAIT_CALL = "wait_call"


@dataclass(eq=False)
class _Cluster:
    """What brokers under test on the same address share: the cluster and its ledger."""

    ledger: DeliveryLedger
    memory: MemoryKafka | None
    users: int = 0


# Brokers under test at the same time with the same bootstrap servers share one
# cluster, as they would share a real one. It lives while one of them is under test.
_CLUSTERS: dict[tuple[bool, str], _Cluster] = {}


class _Calls:
    """The calls one subscriber or publisher saw: a mock, and a cursor for wait_call."""

    def __init__(self, owner: str) -> None:
        # Imported here so that importing topicflow.kafka does not load unittest.
        from unittest.mock import MagicMock

        self.owner = owner
        self.mock: MagicMock = MagicMock(name=owner)
        self._bodies: list[Any] = []
        self._waited = 0
        self._event = asyncio.Event()

    def record(self, body: Any) -> None:
        self._bodies.append(body)
        self.mock(body)
        self._event.set()

    async def wait_call(self, timeout: float = WAIT_CALL_TIMEOUT) -> Any:
        """Wait for the next call not waited for yet; return the body it recorded.

        Calls are counted from entering the test broker: the first ``wait_call``
        returns at once if the first call already happened, the second waits for
        a second call, and so on. Raises ``TimeoutError`` after ``timeout`` seconds.
        """
        try:
            async with asyncio.timeout(timeout):
                while len(self._bodies) <= self._waited:
                    self._event.clear()
                    await self._event.wait()
        except TimeoutError:
            raise TimeoutError(
                f"{self.owner} got no call #{self._waited + 1} within {timeout}s "
                f"(calls so far: {len(self._bodies)})"
            ) from None
        body = self._bodies[self._waited]
        self._waited += 1
        return body


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
        self._undo: list[Callable[[], None]] = []

    async def __aenter__(self) -> KafkaBroker:
        broker = self.broker
        if broker._transport_factory is not None:
            raise SetupError(f"{broker!r} is already under a TestKafkaBroker")
        if broker._transport is not None:
            raise SetupError(
                f"{broker!r} is connected already; enter TestKafkaBroker(broker) before "
                "'async with broker', broker.connect() or broker.start()"
            )
        cluster = self._cluster = _acquire(self.with_real, broker.options.servers_text)
        try:
            if cluster.memory is not None:
                for name, count in self.partitions.items():
                    cluster.memory.create_topic(name, count)
            on_send = self._attach_mocks()
            inner: Callable[[], Transport]
            if cluster.memory is not None:
                memory = cluster.memory
                inner = lambda: MemoryTransport(memory, broker.logger)  # noqa: E731
            else:
                inner = broker._make_transport
            ledger = cluster.ledger
            broker._transport_factory = lambda: ObservedTransport(inner(), ledger, on_send)
            await broker.start()
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
        try:
            # Each fetch loop notices stop() only when its current getmany returns (up to
            # 200 ms); stopping them together saves that wait per extra subscriber.
            stopped = await asyncio.gather(
                *(sub.stop() for sub in self.broker.subscribers), return_exceptions=True
            )
            await self.broker.stop()
            for result in stopped:
                if isinstance(result, BaseException):
                    raise result
        finally:
            self.broker._transport_factory = None
            for undo in reversed(self._undo):
                undo()
            self._undo.clear()
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

    # -- mocks -------------------------------------------------------------------

    def _attach_mocks(self) -> Callable[[str, bytes | None, list[tuple[str, bytes]]], None]:
        broker = self.broker
        for sub in broker.subscribers:
            calls = _Calls(f"{sub!r}.mock")
            original = sub.plan
            if original is not None:
                sub.plan = _observed_plan(original, calls)
            self._set(sub, calls)
            self._undo.append(functools.partial(_restore_plan, sub, original))
        by_topic: dict[str, list[_Calls]] = {}
        for pub in broker.publishers:
            calls = _Calls(f"{pub!r}.mock")
            by_topic.setdefault(pub.topic, []).append(calls)
            self._set(pub, calls)

        def on_send(topic: str, value: bytes | None, headers: list[tuple[str, bytes]]) -> None:
            listeners = by_topic.get(topic)
            if listeners:
                body = _decoded(value, _content_type(headers))
                for calls in listeners:
                    calls.record(body)

        return on_send

    def _set(self, owner: object, calls: _Calls) -> None:
        setattr(owner, _MOCK, calls.mock)
        setattr(owner, _WAIT_CALL, calls.wait_call)

        def remove() -> None:
            for name in (_MOCK, _WAIT_CALL):
                if name in vars(owner):
                    delattr(owner, name)

        self._undo.append(remove)


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


def _observed_plan(plan: HandlerPlan, calls: _Calls) -> HandlerPlan:
    """``plan`` whose calls are recorded once the handler has run (poison is not)."""
    original = plan.call

    async def call(msg: KafkaMessage) -> Any:
        try:
            result = await original(msg)
        except DecodeError:
            raise  # the handler never saw it
        except Exception:
            calls.record(_decoded(msg.raw_message.value, msg.content_type))
            raise
        calls.record(_decoded(msg.raw_message.value, msg.content_type))
        return result

    return dataclasses.replace(plan, call=call)


def _restore_plan(sub: Any, original: HandlerPlan | None) -> None:
    sub.plan = original


def _decoded(value: bytes | None, content_type: str | None) -> Any:
    try:
        return decode_body(value, content_type)
    except ValueError:
        return value  # not what its content type says; record the bytes as they are


def _content_type(headers: list[tuple[str, bytes]]) -> str | None:
    for name, value in reversed(headers):
        if name == "content-type":
            return value.decode(errors="replace")
    return None
