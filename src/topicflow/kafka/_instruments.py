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

The handler a subscriber's decorator returned (its
:class:`~topicflow._handler.HandlerCallWrapper`) gets ``mock``, ``wait_call`` and
the ``assert_*`` methods too, recording the calls of that handler from any
subscriber (poison included, as FastStream records them). When a handler raises,
the pipeline has turned the exception into an outcome; the wrapper reads it off
the message (``failure_of``) and tells the ledger, so that the publish the test
awaits raises it (:func:`raises_out` says which exceptions do).

Publishers get their ``mock`` when the broker has started. What it sets on
instances is removed by :meth:`Instruments.strip` when the test broker exits.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from topicflow._codec import decode_body
from topicflow._handler import TEST_ATTRIBUTES, registered_wrapper
from topicflow.ack import Outcome
from topicflow.exceptions import AckMessage, DecodeError, NackMessage, RejectMessage
from topicflow.kafka._calls import Calls, HandlerCalls, Recorded
from topicflow.kafka._delivery import HandOff
from topicflow.kafka._failures import failure_of
from topicflow.kafka._observed import ObservedTransport
from topicflow.kafka._pipeline import chosen_handler
from topicflow.kafka._retry_loop import RetryLoop
from topicflow.kafka._transport import TopicPartition
from topicflow.kafka.subscriber import Batch, BatchSubscriber, ConcurrentDefaultSubscriber

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

    from topicflow.kafka._delivery import DeliveryLedger
    from topicflow.kafka._loop import ConsumerLoop
    from topicflow.kafka._seam import Transport
    from topicflow.kafka._subscriber import Subscriber
    from topicflow.kafka.broker.broker import KafkaBroker
    from topicflow.kafka.message import KafkaMessage

__all__ = ["Instruments"]

Headers = list[tuple[str, bytes]]


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
        self._attach(subscriber, calls, ("mock", "wait_call"))
        if not subscriber.handlers:
            # Its records wait for get_one(), which the test calls: nobody waits for them.
            self._hand_offs[consumer] = HandOff.QUEUE
            return pipeline
        watch = _Watch(
            calls,
            self._handler_calls(subscriber),
            self._ledger,
            consumer,
        )
        if isinstance(subscriber, BatchSubscriber):
            self._hand_offs[consumer] = HandOff.FETCH
            return _recording_batches(pipeline, watch)
        if isinstance(subscriber, ConcurrentDefaultSubscriber) or isinstance(consumer, RetryLoop):
            # A retry consumer holds records until they are due: each is reported when handled.
            self._hand_offs[consumer] = HandOff.WORKERS
            return _recording_workers(pipeline, watch)
        self._hand_offs[consumer] = HandOff.FETCH
        return _recording(pipeline, watch)

    def hand_off(self, fetch_loop: object) -> HandOff:
        """How the consumer made for ``fetch_loop`` hands out records (FETCH: not a
        subscriber's, e.g. the replies of request())."""
        return self._hand_offs.get(fetch_loop, HandOff.FETCH)

    def _handler_calls(self, subscriber: Subscriber) -> dict[int, HandlerCalls]:
        """The calls of each handler's wrapper, by the handler's function."""
        found: dict[int, HandlerCalls] = {}
        for plan in subscriber.handlers:
            wrapper = registered_wrapper(plan.func)
            if wrapper is None:
                continue
            owner = repr(wrapper)
            entry = self._calls.get(id(wrapper))
            if entry is None:
                entry = self._calls[id(wrapper)] = (
                    wrapper,
                    HandlerCalls(owner, self._broker.context),
                )
            calls = entry[1]
            assert isinstance(calls, HandlerCalls)
            self._attach(wrapper, calls, TEST_ATTRIBUTES)
            found[id(plan.func)] = calls
        return found

    # -- publishers and cleaning up ------------------------------------------------

    def attach_publishers(self) -> None:
        """Give the broker's publishers (its routers' too) their mocks."""
        self._by_topic = {}
        for resolved in self._broker.resolved_publishers():
            for declared in resolved.owner.publishers:
                if declared.name != resolved.name:
                    continue
                calls = self._calls_of(declared, f"{declared!r}.mock")
                self._attach(declared, calls, TEST_ATTRIBUTES)
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
        headers = _header_map(records[0][1])
        recorded = Recorded(bodies if batch else bodies[0], headers)
        for calls in listeners:
            calls.record(recorded)

    def _calls_of(self, declared: object, owner: str) -> Calls:
        entry = self._calls.get(id(declared))
        if entry is None:
            entry = self._calls[id(declared)] = (declared, Calls(owner, self._broker.context))
        return entry[1]

    def _attach(self, owner: object, calls: Calls, names: Sequence[str] | frozenset[str]) -> None:
        for name in sorted(names):
            value = getattr(calls, name)
            if vars(owner).get(name) != value:
                setattr(owner, name, value)
                self._set.append((owner, name))


#: What a handler raises to decide its message's acknowledgement: not a failure.
_DECISIONS = (AckMessage, NackMessage, RejectMessage)


def raises_out(error: BaseException) -> bool:
    """Whether a handler's exception is raised into the test's publish: every one but
    those that steer acknowledgement (``AckMessage``, ``NackMessage``,
    ``RejectMessage``), which decide, not fail (FastStream's test client raises them
    under its ``ACK_FIRST`` default and ``MANUAL``; see docs/migrating-from-faststream.md).
    ``SkipMessage`` and ``SubscriberNotFound`` (no ``filter=`` took the message) come
    out, as in FastStream."""
    return not isinstance(error, _DECISIONS)


def _raised(error: BaseException) -> BaseException:
    """What the test sees of a handler's failure: for a poison message, the validation
    error itself (pydantic's ``ValidationError``), as in FastStream."""
    cause = error.__cause__
    if isinstance(error, DecodeError) and isinstance(cause, Exception):
        return cause
    return error


class _Watch:
    """What a subscriber's recording pipeline reports to, for one consumer."""

    __slots__ = ("calls", "consumer", "handlers", "ledger", "sole")

    def __init__(
        self,
        calls: Calls,
        handlers: dict[int, HandlerCalls],
        ledger: DeliveryLedger,
        consumer: ConsumerLoop,
    ) -> None:
        self.calls = calls
        self.handlers = handlers
        self.ledger = ledger
        self.consumer = consumer
        only = list(handlers.values())
        self.sole = only[0] if len(handlers) == 1 else None

    def message_done(self, msg: KafkaMessage, outcome: Outcome) -> None:
        record = msg.raw_message
        recorded: Recorded | None = None
        if outcome is not Outcome.SKIP:
            recorded = Recorded(
                decoded(record.value, msg.content_type),
                msg.headers,
                msg,
                record.key,
                record.partition,
            )
            if outcome is not Outcome.POISON:
                self.calls.record(recorded)
        error = failure_of(msg)
        if error is not None and not raises_out(error):
            error = None  # a decision (AckMessage, ...), not a failure
        if recorded is not None:
            handler = self._handler_of(msg)
            if handler is not None:
                handler.ended(recorded, _raised(error) if error is not None else None)
        if error is not None:
            tp = TopicPartition(record.topic, record.partition)
            self.ledger.raised(self.consumer, tp, (record.offset,), _raised(error))

    def batch_done(self, batch: Batch) -> None:
        bodies = [decoded(r.value, content_type(list(r.headers))) for r in batch.valid]
        first = batch.valid[0] if batch.valid else None
        headers = _header_map(list(first.headers)) if first is not None else {}
        recorded = Recorded(bodies, headers)
        self.calls.record(recorded)
        error = batch.failure[0] if batch.failure else None
        if error is not None and not raises_out(error):
            error = None
        if self.sole is not None:
            self.sole.ended(recorded, error)
        if error is not None:
            for tp, offsets in batch.taken.items():
                self.ledger.raised(self.consumer, tp, offsets, error)

    def _handler_of(self, msg: KafkaMessage) -> HandlerCalls | None:
        if self.sole is not None:
            return self.sole
        chosen = chosen_handler(msg)
        return self.handlers.get(id(chosen.plan.func)) if chosen is not None else None


def _recording(
    pipeline: Callable[[KafkaMessage], Awaitable[Outcome]], watch: _Watch
) -> Callable[[KafkaMessage], Awaitable[Outcome]]:
    async def observed(msg: KafkaMessage) -> Outcome:
        outcome = await pipeline(msg)
        watch.message_done(msg, outcome)
        return outcome

    return observed


def _recording_workers(
    pipeline: Callable[[KafkaMessage], Awaitable[Outcome]], watch: _Watch
) -> Callable[[KafkaMessage], Awaitable[Outcome]]:
    ledger, consumer = watch.ledger, watch.consumer

    async def observed(msg: KafkaMessage) -> Outcome:
        record = msg.raw_message
        with ledger.handling(
            consumer, TopicPartition(record.topic, record.partition), record.offset
        ):
            outcome = await pipeline(msg)
            watch.message_done(msg, outcome)
        return outcome

    return observed


def _recording_batches(
    pipeline: Callable[[Batch], Awaitable[Outcome]], watch: _Watch
) -> Callable[[Batch], Awaitable[Outcome]]:
    async def observed(batch: Batch) -> Outcome:
        outcome = await pipeline(batch)
        watch.batch_done(batch)
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


def _header_map(headers: Headers) -> dict[str, str | bytes]:
    """Headers as a message shows them: text when they are UTF-8 (the last one wins)."""
    shown: dict[str, str | bytes] = {}
    for name, raw in headers:
        try:
            shown[name] = raw.decode()
        except UnicodeDecodeError:
            shown[name] = raw
    return shown
