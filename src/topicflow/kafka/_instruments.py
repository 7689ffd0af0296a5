"""What TestKafkaBroker attaches to a broker's objects while it is entered.

After every resolution of the broker (``broker.resolve()``, which ``start()``
calls before any subscriber starts), :class:`Instruments`:

* gives each subscriber and publisher a ``mock`` and a ``wait_call`` (one pair
  per declared object: the copies made for a router included twice share it);
* wraps each subscriber's resolved handler calls (``Handler.call``, or a batch
  subscriber's plan) so that the mock records the decoded body once the handler
  has run;
* reports to the :class:`~topicflow.kafka._delivery.DeliveryLedger` what the
  transport cannot see: a ``ConcurrentDefaultSubscriber``'s fetch loop hands
  records to workers (so asking for more does not mean they were handled) and
  each worker's end of a record; a subscriber without a handler feeds
  ``get_one()``, which nobody waits for.

Everything is set as instance attributes and removed by :meth:`Instruments.strip`,
before the next resolution (so a router's copies never inherit another
instance's wrappers) and when the test broker exits.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import TYPE_CHECKING, Any

from topicflow._codec import decode_body
from topicflow.exceptions import DecodeError
from topicflow.kafka.subscriber import BatchSubscriber, ConcurrentDefaultSubscriber

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence
    from unittest.mock import MagicMock

    from topicflow._di import BatchPlan
    from topicflow.kafka._delivery import DeliveryLedger
    from topicflow.kafka._loop import ConsumerLoop
    from topicflow.kafka._subscriber import Handler, Subscriber
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
        #: The subscribers of the latest resolution.
        self.instances: list[Any] = []
        self._set: list[tuple[object, str]] = []
        self._wrapped: list[tuple[Handler, Any, Any]] = []

    # -- applying and removing ---------------------------------------------------

    def apply(self, instances: Sequence[Any]) -> None:
        """Instrument a resolution's subscribers and the broker's publishers."""
        self.instances = list(instances)
        for sub in instances:
            calls = self._calls_of(sub.config, f"{sub!r}.mock")
            self._attach(sub, calls)
            if isinstance(sub, BatchSubscriber):
                self._observe_batch(sub, calls)
            else:
                for handler in sub._handlers:
                    self._observe_handler(handler, calls)
            if isinstance(sub, ConcurrentDefaultSubscriber):
                self._observe_workers(sub)
            if not sub._handlers:
                self._ignore_queue(sub)
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
        """Remove everything :meth:`apply` attached."""
        for handler, original, wrapper in self._wrapped:
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
        if original is None:
            return

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
        self._wrapped.append((handler, original, call))

    def _observe_batch(self, sub: BatchSubscriber, calls: Calls) -> None:
        plan = sub._batch_plan
        if plan is None:
            return
        taken: list[Any] = []

        def extract(msg: KafkaMessage) -> Any:
            value = plan.extract(msg)
            taken.append(decoded(msg.raw_message.value, msg.content_type))
            return value

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

        observed: BatchPlan = dataclasses.replace(plan, extract=extract, call=call)
        self._set_attr(sub, "_batch_plan", observed)

    def _observe_workers(self, sub: ConcurrentDefaultSubscriber) -> None:
        ledger = self._ledger
        process = sub._process
        handle = sub._handle

        async def hand_off(loop: ConsumerLoop, batches: Any) -> None:
            ledger.hand_off(loop)
            await process(loop, batches)

        async def handle_one(
            loop: ConsumerLoop, tp: TopicPartition, record: ConsumerRecord[bytes, bytes]
        ) -> bool:
            with ledger.handling(loop, tp, record.offset):
                return await handle(loop, tp, record)

        # Set before the subscriber starts: its fetch loops take _process when made.
        self._set_attr(sub, "_process", hand_off)
        self._set_attr(sub, "_handle", handle_one)

    def _ignore_queue(self, sub: Subscriber) -> None:
        ledger = self._ledger
        enqueue: Callable[[ConsumerLoop, Any], Awaitable[None]] = sub._enqueue

        async def queue(loop: ConsumerLoop, batches: Any) -> None:
            ledger.ignore(loop)
            await enqueue(loop, batches)

        self._set_attr(sub, "_enqueue", queue)


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
