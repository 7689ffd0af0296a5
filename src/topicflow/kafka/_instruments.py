"""What TestKafkaBroker attaches to a broker's objects while it is entered.

Whenever a subscriber starts (with the broker, or on its own later), it asks
the transport for its consumers; the observed transport then asks
:meth:`Instruments.hand_off` how the fetch loop it is made for hands records
out. That is the moment, after the subscriber resolved its settings and
before it handles anything, at which :class:`Instruments`:

* gives the subscriber a ``mock`` and a ``wait_call`` (one pair per declared
  subscriber: the copies made for a router included twice share it);
* wraps its resolved handler calls (``Handler.call``, or a batch subscriber's
  plan) so that the mock records the decoded body once the handler has run;
* for a ``ConcurrentDefaultSubscriber``, wraps its per-record ``_handle`` (which
  its workers run) in :meth:`DeliveryLedger.handling`, and answers ``WORKERS``;
* for a subscriber without a handler, answers ``QUEUE``: ``get_one()`` takes
  its messages, nobody waits for them.

Publishers get their ``mock`` when the broker has started. Everything is set
on instances and removed by :meth:`Instruments.strip` when the test broker
exits. A subscriber copied from one that carries these attributes gets its
own when it starts.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import TYPE_CHECKING, Any

from topicflow._codec import decode_body
from topicflow._di import BatchPlan
from topicflow.exceptions import DecodeError
from topicflow.kafka._delivery import HandOff
from topicflow.kafka.subscriber import BatchSubscriber, ConcurrentDefaultSubscriber

if TYPE_CHECKING:
    from collections.abc import Sequence
    from unittest.mock import MagicMock

    from topicflow.kafka._delivery import DeliveryLedger
    from topicflow.kafka._handling import Handler
    from topicflow.kafka._loop import ConsumerLoop
    from topicflow.kafka._subscriber import Subscriber
    from topicflow.kafka._transport import ConsumerRecord, TopicPartition
    from topicflow.kafka.broker.broker import KafkaBroker
    from topicflow.kafka.message import KafkaMessage

__all__ = ["Calls", "Instruments"]

#: The default of ``wait_call(timeout)``, in seconds.
WAIT_CALL_TIMEOUT = 10.0

Headers = list[tuple[str, bytes]]


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


class Instruments:
    """The mocks and observers of one broker under test."""

    def __init__(self, broker: KafkaBroker, ledger: DeliveryLedger) -> None:
        self._broker = broker
        self._ledger = ledger
        # Declared object (kept alive here, so its id stays unique) -> its calls.
        self._calls: dict[int, tuple[object, Calls]] = {}
        self._by_topic: dict[str, list[Calls]] = {}
        self._set: list[tuple[object, str]] = []
        self._wrapped: dict[Handler, tuple[Any, Any]] = {}

    # -- applying and removing ---------------------------------------------------

    def hand_off(self, fetch_loop: object) -> HandOff:
        """A consumer is being made for ``fetch_loop``: instrument the subscriber it
        serves, and tell how the loop hands out records."""
        sub = self._subscriber_of(fetch_loop)
        if sub is None:
            return HandOff.FETCH  # not a subscriber's: the replies of request()
        calls = self._calls_of(sub.config, f"{sub!r}.mock")
        self._attach(sub, calls)
        if isinstance(sub, BatchSubscriber):
            self._observe_batch(sub, calls)
        else:
            for handler in sub._handlers:
                self._observe_handler(handler, calls)
        if not sub._handlers:
            return HandOff.QUEUE
        if isinstance(sub, ConcurrentDefaultSubscriber):
            self._observe_workers(sub)
            return HandOff.WORKERS
        return HandOff.FETCH

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
        for handler, (original, wrapper) in self._wrapped.items():
            if handler.call is wrapper:
                handler.call = original
        self._wrapped.clear()
        for owner, name in self._set:
            if name in vars(owner):
                delattr(owner, name)
        self._set.clear()

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

    def _subscriber_of(self, fetch_loop: object) -> Subscriber | None:
        for sub in self._broker._instances:
            if any(loop is fetch_loop for loop in sub._loops):
                return sub
        return None

    def _calls_of(self, declared: object, owner: str) -> Calls:
        entry = self._calls.get(id(declared))
        if entry is None:
            entry = self._calls[id(declared)] = (declared, Calls(owner))
        return entry[1]

    def _attach(self, owner: object, calls: Calls) -> None:
        self._set_attr(owner, "mock", calls.mock)
        self._set_attr(owner, "wait_call", calls.wait_call)

    def _set_attr(self, owner: object, name: str, value: Any) -> None:
        setattr(owner, name, value)
        self._set.append((owner, name))

    # -- subscribers -------------------------------------------------------------

    def _observe_handler(self, handler: Handler, calls: Calls) -> None:
        original = handler.call
        wrapped = self._wrapped.get(handler)
        if original is None or (wrapped is not None and original is wrapped[1]):
            return  # no call bound, or wrapped already (a second consumer of the subscriber)

        async def call(msg: KafkaMessage) -> Any:
            try:
                result = await original(msg)
            except DecodeError:
                raise  # poison: the handler never saw it
            except Exception:
                calls.record(decoded(msg.raw_message.value, msg.content_type))
                raise
            calls.record(decoded(msg.raw_message.value, msg.content_type))
            return result

        handler.call = call
        self._wrapped[handler] = (original, call)

    def _observe_batch(self, sub: BatchSubscriber, calls: Calls) -> None:
        from topicflow.kafka.message import KafkaMessage as message_of

        # The handler's plan, not sub._batch_plan: a copy may carry another's wrapper.
        plan = sub._handlers[0].plan if sub._handlers else None
        if not isinstance(plan, BatchPlan):
            return
        taken: list[Any] = []

        def extract(msg: KafkaMessage) -> Any:
            value = plan.extract(msg)
            taken.append(decoded(msg.raw_message.value, msg.content_type))
            return value

        extract_records = plan.extract_records

        def extract_many(records: Any) -> Any:
            # The fast path validates a partition's records at once; record them alike.
            assert extract_records is not None
            values = extract_records(records)
            for record in records:
                taken.append(decoded(record.value, message_of(record).content_type))
            return values

        async def call(bodies: list[Any]) -> Any:
            batch = taken[-len(bodies) :] if bodies else []
            taken.clear()
            try:
                result = await plan.call(bodies)
            except Exception:
                calls.record(batch)
                raise
            calls.record(batch)
            return result

        self._set_attr(
            sub,
            "_batch_plan",
            dataclasses.replace(
                plan,
                extract=extract,
                extract_records=extract_many if extract_records is not None else None,
                call=call,
            ),
        )

    def _observe_workers(self, sub: ConcurrentDefaultSubscriber) -> None:
        ledger = self._ledger
        kind = type(sub)

        async def handle_one(
            loop: ConsumerLoop, tp: TopicPartition, record: ConsumerRecord[bytes, bytes]
        ) -> bool:
            with ledger.handling(loop, tp, record.offset):
                # The class's method: a copy of a subscriber inherits its wrapper.
                return await kind._handle(sub, loop, tp, record)

        self._set_attr(sub, "_handle", handle_one)


def decoded(value: bytes | None, content_type: str | None) -> Any:
    """The body as a mock records it: JSON as Python values, text as str, else bytes."""
    try:
        return decode_body(value, content_type)
    except ValueError:
        return value  # not what its content type says; record the bytes as they are


def content_type(headers: Headers) -> str | None:
    """The ``content-type`` header of a record being sent."""
    for name, value in reversed(headers):
        if name == "content-type":
            return value.decode(errors="replace")
    return None
