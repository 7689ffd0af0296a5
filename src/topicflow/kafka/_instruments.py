"""What TestKafkaBroker installs on a broker while it is entered: an observer.

:class:`Instruments` is the broker's :class:`~topicflow.kafka.Observer`
(``broker.observe(...)``), the one hook through which the test broker sees a
service. It

* chooses the transport: the in-memory one, or the real one, either wrapped in
  an :class:`~topicflow.kafka._observed.ObservedTransport` reporting to the
  delivery ledger;
* is shown each subscriber's pipeline as the subscriber starts, per consumer,
  and hands back one that calls it and then records the decoded body on the
  subscriber's mock (for a ``ConcurrentDefaultSubscriber``, inside
  :meth:`DeliveryLedger.handling`, since its workers hand records out apart from
  the fetch loop); it gives the subscriber its ``mock`` and ``wait_call`` (one
  pair per declared subscriber: the copies made for a router included twice
  share it), and tells the ledger how each consumer hands records out
  (:class:`~topicflow.kafka._delivery.HandOff`).

Publishers get their ``mock`` when the broker has started. What it sets on
instances is removed by :meth:`Instruments.strip` when the test broker exits.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from topicflow._codec import decode_body
from topicflow.ack import Outcome
from topicflow.exceptions import WaitTimeout
from topicflow.kafka._delivery import HandOff
from topicflow.kafka._observed import ObservedTransport
from topicflow.kafka._transport import TopicPartition
from topicflow.kafka.subscriber import Batch, BatchSubscriber, ConcurrentDefaultSubscriber

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence
    from unittest.mock import MagicMock

    from topicflow.kafka._delivery import DeliveryLedger
    from topicflow.kafka._loop import ConsumerLoop
    from topicflow.kafka._seam import Transport
    from topicflow.kafka._subscriber import Subscriber
    from topicflow.kafka.broker.broker import KafkaBroker
    from topicflow.kafka.message import KafkaMessage

__all__ = ["Calls", "Instruments"]

#: The default of ``wait_call(timeout)``, in seconds.
WAIT_CALL_TIMEOUT = 10.0

Headers = list[tuple[str, bytes]]
#: Outcomes of messages that never reached a handler: not recorded on mocks.
_UNHANDLED = (Outcome.POISON, Outcome.SKIP)


class Calls:
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
        a second call, and so on. Raises ``WaitTimeout`` (a ``TimeoutError``) after
        ``timeout`` seconds.
        """
        try:
            async with asyncio.timeout(timeout):
                while len(self._bodies) <= self._waited:
                    self._event.clear()
                    await self._event.wait()
        except TimeoutError:
            raise WaitTimeout(
                f"{self.owner} got no call #{self._waited + 1} within {timeout}s "
                f"(calls so far: {len(self._bodies)})"
            ) from None
        body = self._bodies[self._waited]
        self._waited += 1
        return body


class Instruments:
    """The observer of one broker under test: transport, mocks and ledger reports.

    Args:
        broker: the broker under test.
        ledger: the delivery ledger of its cluster.
        inner: builds the transport to observe, given the broker's usual one.
    """

    def __init__(
        self,
        broker: KafkaBroker,
        ledger: DeliveryLedger,
        inner: Callable[[Callable[[], Transport]], Transport],
    ) -> None:
        self._broker = broker
        self._ledger = ledger
        self._inner = inner
        # Declared object (kept alive here, so its id stays unique) -> its calls.
        self._calls: dict[int, tuple[object, Calls]] = {}
        self._by_topic: dict[str, list[Calls]] = {}
        self._set: list[tuple[object, str]] = []
        #: How each consumer (by the fetch loop it serves) hands out its records.
        self._hand_offs: dict[object, HandOff] = {}

    # -- the observer --------------------------------------------------------------

    def transport(self, default: Callable[[], Transport]) -> Transport:
        """The broker's transport, observed by the ledger."""
        return ObservedTransport(self._inner(default), self._ledger, self.published, self.hand_off)

    def pipeline(self, subscriber: Subscriber, consumer: ConsumerLoop, pipeline: Any) -> Any:
        """Give ``subscriber`` its mock, and record what ``consumer`` hands its handlers."""
        calls = self._calls_of(subscriber.config, f"{subscriber!r}.mock")
        self._attach(subscriber, calls)
        if not subscriber.handlers:
            # Its records wait for get_one(), which the test calls: nobody waits for them.
            self._hand_offs[consumer] = HandOff.QUEUE
            return pipeline
        if isinstance(subscriber, BatchSubscriber):
            self._hand_offs[consumer] = HandOff.FETCH
            return _recording_batches(pipeline, calls)
        if isinstance(subscriber, ConcurrentDefaultSubscriber):
            self._hand_offs[consumer] = HandOff.WORKERS
            return _recording_workers(pipeline, calls, self._ledger, consumer)
        self._hand_offs[consumer] = HandOff.FETCH
        return _recording(pipeline, calls)

    def hand_off(self, fetch_loop: object) -> HandOff:
        """How the consumer made for ``fetch_loop`` hands out records (FETCH: not a
        subscriber's, e.g. the replies of request())."""
        return self._hand_offs.get(fetch_loop, HandOff.FETCH)

    # -- publishers and cleaning up ------------------------------------------------

    def attach_publishers(self) -> None:
        """Give the broker's publishers (its routers' too) their mocks."""
        self._by_topic = {}
        for resolved in self._broker.resolved_publishers():
            for declared in resolved.owner.publishers:
                if declared.name != resolved.name:
                    continue
                calls = self._calls_of(declared, f"{declared!r}.mock")
                self._attach(declared, calls)
                listeners = self._by_topic.setdefault(resolved.topic, [])
                if calls not in listeners:
                    listeners.append(calls)

    def strip(self) -> None:
        """Remove everything that was attached."""
        for owner, name in self._set:
            if name in vars(owner):
                delattr(owner, name)
        self._set.clear()
        self._hand_offs.clear()

    def published(
        self, topic: str, records: Sequence[tuple[bytes | None, Headers]], batch: bool
    ) -> None:
        """Record a send to ``topic`` on the mocks of its publishers (a batch as one list)."""
        listeners = self._by_topic.get(topic)
        if not listeners:
            return
        bodies = [decoded(value, content_type(headers)) for value, headers in records]
        for calls in listeners:
            calls.record(bodies if batch else bodies[0])

    def _calls_of(self, declared: object, owner: str) -> Calls:
        entry = self._calls.get(id(declared))
        if entry is None:
            entry = self._calls[id(declared)] = (declared, Calls(owner))
        return entry[1]

    def _attach(self, owner: object, calls: Calls) -> None:
        for name, value in (("mock", calls.mock), ("wait_call", calls.wait_call)):
            if getattr(owner, name, None) is not value:
                setattr(owner, name, value)
                self._set.append((owner, name))


def _recording(
    pipeline: Callable[[KafkaMessage], Awaitable[Outcome]], calls: Calls
) -> Callable[[KafkaMessage], Awaitable[Outcome]]:
    async def observed(msg: KafkaMessage) -> Outcome:
        outcome = await pipeline(msg)
        if outcome not in _UNHANDLED:
            calls.record(decoded(msg.raw_message.value, msg.content_type))
        return outcome

    return observed


def _recording_workers(
    pipeline: Callable[[KafkaMessage], Awaitable[Outcome]],
    calls: Calls,
    ledger: DeliveryLedger,
    consumer: ConsumerLoop,
) -> Callable[[KafkaMessage], Awaitable[Outcome]]:
    async def observed(msg: KafkaMessage) -> Outcome:
        record = msg.raw_message
        with ledger.handling(
            consumer, TopicPartition(record.topic, record.partition), record.offset
        ):
            outcome = await pipeline(msg)
            if outcome not in _UNHANDLED:
                calls.record(decoded(record.value, msg.content_type))
        return outcome

    return observed


def _recording_batches(
    pipeline: Callable[[Batch], Awaitable[Outcome]], calls: Calls
) -> Callable[[Batch], Awaitable[Outcome]]:
    async def observed(batch: Batch) -> Outcome:
        outcome = await pipeline(batch)
        calls.record([decoded(r.value, content_type(list(r.headers))) for r in batch.valid])
        return outcome

    return observed


def decoded(value: bytes | None, content_type: str | None) -> Any:
    """The body as a mock records it: JSON as Python values, text as str, else bytes."""
    try:
        return decode_body(value, content_type)
    except ValueError:
        return value  # not what its content type says; record the bytes as they are


def content_type(headers: Headers) -> str | None:
    """The ``content-type`` header of a record (the last one wins)."""
    for name, value in reversed(headers):
        if name == "content-type":
            return value.decode(errors="replace")
    return None
