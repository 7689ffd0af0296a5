"""TelemetryMiddleware: OpenTelemetry spans and metrics around consuming and publishing.

Per consumed message (or batch) one CONSUMER span ``"<topic> process"``, child
of the trace context its record carries (a batch's span links to each
record's instead), current while the handler runs: what the handler publishes
is traced as its children. Per publish one PRODUCER span ``"<topic> publish"``
whose context goes out in the record's ``traceparent``/``tracestate`` headers;
a batch publish has a ``"<topic> create"`` span besides, whose context every
record of the batch carries. Baggage travels in the ``baggage`` header. The
headers, names and attribute keys are FastStream's, so traces run across
services of both.
"""

from __future__ import annotations

import copy
import functools
import time
from typing import TYPE_CHECKING, Any

from opentelemetry import baggage, context, metrics, trace
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.trace import Link, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from topicflow import __version__
from topicflow.exceptions import AckMessage, SkipMessage, StopConsume
from topicflow.kafka._publish import new_correlation_id
from topicflow.middlewares import BaseMiddleware
from topicflow.opentelemetry import _attributes as a
from topicflow.opentelemetry._baggage import Baggage, header_value, parse

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping, Sequence

    from opentelemetry.metrics import Meter, MeterProvider
    from opentelemetry.trace import Span, SpanContext, TracerProvider

    from topicflow._context import ContextRepo
    from topicflow.kafka._per_subscriber import SubscriberFacts
    from topicflow.kafka._transport import TopicPartition
    from topicflow.kafka._watch import Progress
    from topicflow.kafka.publisher import PublishCommand
    from topicflow.opentelemetry._provider import TelemetrySettingsProvider

__all__ = ["TelemetryMiddleware"]

#: The tracer's and meter's instrumentation scope.
SCOPE = "topicflow"
_TRACE_CONTEXT = TraceContextTextMapPropagator()
#: Raised by handlers to finish a message as done: not a failed operation.
_SUCCESSES = (AckMessage, SkipMessage, StopConsume)
#: The counters of what the consume path reports (kafka/_watch.py), and their descriptions.
_EVENTS = {
    a.RETRIED_MESSAGES: "Failed messages sent to retry.",
    a.DEAD_LETTERED_MESSAGES: "Messages written to the dead-letter topic.",
    a.POISON_MESSAGES: "Poison messages rejected.",
}


class TelemetryMiddleware:
    """Traces and metrics of every consumed message and every publish.

    A middleware factory: list it as ``KafkaBroker(middlewares=[it])`` (or on a
    router). Without providers, OpenTelemetry's global ones are used. Kafka
    services use :class:`topicflow.kafka.opentelemetry.KafkaTelemetryMiddleware`.

    Args:
        settings_provider_factory: gives the :class:`TelemetrySettingsProvider` of a
            consumed record (a sequence of records for a batch; None for a publish),
            or None to leave it untraced.
        tracer_provider: where spans go.
        meter_provider: where metrics go.
        meter: the meter to record with (instead of one of ``meter_provider``).
        include_messages_counters: also count messages processed and published.
    """

    def __init__(
        self,
        *,
        settings_provider_factory: Callable[[Any], TelemetrySettingsProvider[Any, Any] | None],
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
        meter: Meter | None = None,
        include_messages_counters: bool = False,
    ) -> None:
        self._tracer = trace.get_tracer(SCOPE, __version__, tracer_provider)
        if meter is None:
            meter = metrics.get_meter(SCOPE, __version__, meter_provider)
        self._metrics = _Metrics(meter, include_messages_counters)
        self._settings_provider_factory = settings_provider_factory
        self._group_id: str | None = None

    def for_subscriber(self, facts: SubscriberFacts) -> TelemetryMiddleware:
        """This middleware for one subscriber: its spans name the consumer group
        (called by the subscriber at start)."""
        twin = copy.copy(self)
        twin._group_id = facts.group_id
        return twin

    def __call__(self, msg: Any | None, *, context: ContextRepo) -> BaseMiddleware:
        return _Telemetry(msg, context, self)

    def watch_consumer(self, group_id: str | None) -> _Events:
        """What the consumers of ``group_id`` report that the middleware counts:
        messages sent to retry, dead-lettered, and poison (``kafka/_watch.py``)."""
        return _Events(self._metrics, group_id)


class _Telemetry(BaseMiddleware):
    """The middleware made for one consumed message (or batch), or one publish."""

    def __init__(self, msg: Any | None, context: ContextRepo, owner: TelemetryMiddleware) -> None:
        self.msg = msg
        self.context = context
        self._owner = owner

    async def consume_scope(self, call_next: Callable[[Any], Awaitable[Any]], msg: Any) -> Any:
        owner = self._owner
        record: Any = self.msg
        provider = owner._settings_provider_factory(record)
        if provider is None:
            return await call_next(msg)
        links: list[Link] | None = None
        if isinstance(record, list | tuple):  # a batch: its records, and the bodies in msg
            parent = None
            links, current_baggage = _batch_links(record)
            subject: Any = record
        else:
            traceparent, tracestate, header = _trace_headers(record.headers)
            parent = _parent(traceparent, tracestate) if traceparent is not None else None
            current_baggage = Baggage._of_header(header)
            subject = msg
        topic = provider.get_consume_destination_name(subject)
        attributes = provider.get_consume_attrs_from_message(subject)
        group = owner._group_id
        if group is not None:
            attributes[a.CONSUMER_GROUP] = group
        span = owner._tracer.start_span(
            f"{topic} {a.PROCESS}",
            parent,
            SpanKind.CONSUMER,
            attributes,
            links,
        )
        # Current while the handler runs: its publishes (and any instrumented call) are
        # its children; Context("span") and Context("baggage") give it to the handler.
        token = context.attach(trace.set_span_in_context(span, parent))
        scope = self.context.enter_scope({"span": span, "baggage": current_baggage})
        start = time.perf_counter()
        error: str | None = None
        try:
            return await call_next(msg)
        except Exception as exc:
            if not isinstance(exc, _SUCCESSES):
                error = _failed(span, exc)
            raise
        finally:
            duration = time.perf_counter() - start
            self.context.exit_scope(scope)
            context.detach(token)
            span.end()
            owner._metrics.processed(
                topic, group, error, duration, len(record) if links is not None else 1
            )

    async def publish_scope(
        self, call_next: Callable[[PublishCommand], Awaitable[Any]], cmd: PublishCommand
    ) -> Any:
        owner = self._owner
        provider = owner._settings_provider_factory(None)
        if provider is None:
            return await call_next(cmd)
        if cmd.correlation_id is None:
            # Generated here rather than when encoding, so that the span can name it.
            cmd.correlation_id = new_correlation_id()
        tracer = owner._tracer
        topic = provider.get_publish_destination_name(cmd)
        attributes = provider.get_publish_attrs_from_cmd(cmd)
        count = 1 if cmd.batch is None else len(cmd.batch)
        headers = dict(cmd.headers)
        entries = _baggage_to_carry(self.context)
        given = headers.get(a.BAGGAGE)
        if given is not None and (entries is not None or count > 1):
            # A baggage header the caller gave: its entries, under those carried on.
            text = given.decode("utf-8", "replace") if isinstance(given, bytes) else given
            carried_on = parse(entries) if isinstance(entries, str) else entries
            entries = {**parse(text), **(carried_on or {})}
        if count > 1:
            attributes[a.BATCH_COUNT] = count
            create = tracer.start_span(
                f"{topic} {a.CREATE}",
                kind=SpanKind.PRODUCER,
                attributes={**attributes, a.OPERATION_TYPE: a.CREATE, a.OPERATION_NAME: a.CREATE},
            )
            create.end()
            parent = trace.set_span_in_context(create)
            carried = create.get_span_context()
            # FastStream's consumers see a batch by this entry (and link, not parent, it).
            carry = parse(entries) if isinstance(entries, str) else entries
            entries = {**(carry or {}), a.WITH_BATCH: True}
        else:
            parent = None
            carried = None
        attributes[a.OPERATION] = a.PUBLISH
        attributes[a.OPERATION_TYPE] = "send"
        attributes[a.OPERATION_NAME] = a.PUBLISH
        span = tracer.start_span(f"{topic} {a.PUBLISH}", parent, SpanKind.PRODUCER, attributes)
        _inject(headers, carried or span.get_span_context())
        if entries is not None:
            if isinstance(entries, str):
                headers[a.BAGGAGE] = entries
            else:
                value = header_value(entries)
                if value is not None:
                    headers[a.BAGGAGE] = value
        cmd.headers = headers
        start = time.perf_counter()
        error: str | None = None
        try:
            return await call_next(cmd)
        except Exception as exc:
            error = _failed(span, exc)
            raise
        finally:
            duration = time.perf_counter() - start
            span.end()
            owner._metrics.published(topic, error, duration, count)


class _Metrics:
    """The instruments, and the attribute sets of each topic, made once.

    The message counters are observable: the counts are kept here and read by the
    meter when it collects (the same monotonic sums as counters give, without a
    measurement through the SDK per message).
    """

    def __init__(self, meter: Meter, counters: bool) -> None:
        self.publish_duration = meter.create_histogram(
            a.PUBLISH_DURATION, unit="s", description="Duration of publishing a message."
        )
        self.process_duration = meter.create_histogram(
            a.PROCESS_DURATION, unit="s", description="Duration of processing a message."
        )
        self.counters = counters
        #: attributes key -> [the attributes of its histogram point, its count's, the count]
        self._sets: dict[tuple[str, str | None, str | None, bool], list[Any]] = {}
        if counters:
            meter.create_observable_counter(
                a.PUBLISH_MESSAGES,
                [functools.partial(self._observe, False)],
                unit="message",
                description="Messages published.",
            )
            meter.create_observable_counter(
                a.PROCESS_MESSAGES,
                [functools.partial(self._observe, True)],
                unit="message",
                description="Messages processed.",
            )
        #: (kind, topic, group) -> [the attributes of its count, the count]
        self.events: dict[tuple[str, str, str | None], list[Any]] = {}
        for kind, description in _EVENTS.items():
            meter.create_observable_counter(
                kind,
                [functools.partial(self._observe_events, kind)],
                unit="message",
                description=description,
            )

    def _entry(self, topic: str, group: str | None, error: str | None, consumed: bool) -> list[Any]:
        key = (topic, group, error, consumed)
        entry = self._sets.get(key)
        if entry is None:
            counted: dict[str, Any] = {a.SYSTEM: a.KAFKA}
            if consumed:
                counted[a.DESTINATION_PUBLISH] = topic
                if group is not None:
                    counted[a.CONSUMER_GROUP] = group
            else:
                counted[a.DESTINATION] = topic
            timed = counted if error is None else {**counted, a.ERROR_TYPE: error}
            entry = self._sets[key] = [timed, counted, 0]
        return entry

    def _observe(self, consumed: bool, options: CallbackOptions) -> list[Observation]:
        # Runs in the reader's thread: list() copies the entries under the GIL at once.
        totals: dict[tuple[str, str | None], tuple[dict[str, Any], int]] = {}
        for (topic, group, _, kind), (_, counted, count) in list(self._sets.items()):
            if kind is consumed and count:
                seen = totals.get((topic, group))
                totals[topic, group] = (counted, count + (seen[1] if seen else 0))
        return [Observation(count, counted) for counted, count in totals.values()]

    def _observe_events(self, kind: str, options: CallbackOptions) -> list[Observation]:
        # Runs in the reader's thread, as _observe.
        return [
            Observation(count, counted)
            for (of, _, _), (counted, count) in list(self.events.items())
            if of == kind
        ]

    def event(self, kind: str, topic: str, group: str | None) -> None:
        """One message of ``topic`` (as first consumed) retried, dead-lettered or poison."""
        key = (kind, topic, group)
        entry = self.events.get(key)
        if entry is None:
            counted: dict[str, Any] = {a.SYSTEM: a.KAFKA, a.DESTINATION: topic}
            if group is not None:
                counted[a.CONSUMER_GROUP] = group
            entry = self.events[key] = [counted, 0]
        entry[1] += 1

    def processed(
        self, topic: str, group: str | None, error: str | None, duration: float, count: int
    ) -> None:
        entry = self._entry(topic, group, error, True)
        self.process_duration.record(duration, entry[0])
        entry[2] += count

    def published(self, topic: str, error: str | None, duration: float, count: int) -> None:
        entry = self._entry(topic, None, error, False)
        self.publish_duration.record(duration, entry[0])
        entry[2] += count


class _Events:
    """The :class:`~topicflow.kafka._watch.ConsumerWatch` of one consumer group: counts
    its retried, dead-lettered and poison messages; the rest it has no use for."""

    def __init__(self, metrics: _Metrics, group: str | None) -> None:
        self._metrics = metrics
        self._group = group

    def fetched(self, progress: Mapping[TopicPartition, Progress]) -> None:
        pass

    def committed(self, offsets: Mapping[TopicPartition, int]) -> None:
        pass

    def assigned(self, tps: set[TopicPartition]) -> None:
        pass

    def revoked(self, tps: set[TopicPartition]) -> None:
        pass

    def restarted(self) -> None:
        pass

    def poisoned(self, tp: TopicPartition) -> None:
        self._metrics.event(a.POISON_MESSAGES, tp.topic, self._group)

    def retried(self, tp: TopicPartition) -> None:
        self._metrics.event(a.RETRIED_MESSAGES, tp.topic, self._group)

    def dead_lettered(self, tp: TopicPartition) -> None:
        self._metrics.event(a.DEAD_LETTERED_MESSAGES, tp.topic, self._group)


def _failed(span: Span, exc: Exception) -> str:
    """Mark ``span`` as failed by ``exc``; the ``error.type`` it names."""
    name = type(exc).__name__
    span.set_attribute(a.ERROR_TYPE, name)
    span.record_exception(exc)
    span.set_status(Status(StatusCode.ERROR, f"{name}: {exc}"))
    return name


def _text(raw: bytes | str) -> str:
    return raw if isinstance(raw, str) else raw.decode("latin-1")


def _trace_headers(
    headers: Sequence[tuple[str, bytes]],
) -> tuple[str | None, str | None, str | None]:
    """A record's ``traceparent``, ``tracestate`` and ``baggage`` headers, in one pass."""
    traceparent = tracestate = header = None
    for name, value in headers:
        if name == a.TRACEPARENT:
            traceparent = _text(value)
        elif name == a.TRACESTATE:
            tracestate = _text(value)
        elif name == a.BAGGAGE:
            header = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
    return traceparent, tracestate, header


def _parent(traceparent: str, tracestate: str | None) -> context.Context | None:
    carrier = {a.TRACEPARENT: traceparent}
    if tracestate is not None:
        carrier[a.TRACESTATE] = tracestate
    extracted = _TRACE_CONTEXT.extract(carrier)
    return extracted if len(extracted) else None  # an invalid traceparent gives nothing


def _batch_links(records: Sequence[Any]) -> tuple[list[Link], Baggage]:
    """Links to the trace context of each record of a batch (one per correlation id,
    counting the records that share it), and the batch's baggage."""
    links: dict[str, tuple[SpanContext, int]] = {}
    every: list[dict[str, Any]] = []
    merged: dict[str, Any] = {}
    for record in records:
        traceparent, tracestate, header = _trace_headers(record.headers)
        entries = parse(header)
        every.append(entries)
        merged.update(entries)
        if traceparent is None:
            continue
        parent = _parent(traceparent, tracestate)
        if parent is None:
            continue
        span_context = trace.get_current_span(parent).get_span_context()
        cid = next((v for n, v in record.headers if n == "correlation_id"), None)
        key = _text(cid) if cid is not None else f"{span_context.span_id:x}"
        seen = links.get(key)
        links[key] = (span_context, 1 if seen is None else seen[1] + 1)
    return [
        Link(ctx, {a.BATCH_COUNT: count} if count > 1 else None) for ctx, count in links.values()
    ], Baggage(merged, every)


def _baggage_to_carry(repo: ContextRepo) -> dict[str, Any] | str | None:
    """What a publish carries on as baggage: the handler's (as it left it) over the
    current OpenTelemetry context's; the header as received while nothing changed it."""
    current = repo.get_local("baggage")
    in_context = baggage.get_all()
    if isinstance(current, Baggage):
        received = None if in_context else current._as_received()
        if received is not None:
            return received
        entries = current.get_all()
        return entries if entries or in_context else None
    return dict(in_context) if in_context else None


def _inject(headers: dict[str, Any], span_context: SpanContext) -> None:
    """The W3C trace context headers of ``span_context`` (none for an invalid one)."""
    if not span_context.is_valid:
        return
    headers[a.TRACEPARENT] = (
        f"00-{span_context.trace_id:032x}-{span_context.span_id:016x}-"
        f"{span_context.trace_flags:02x}"
    )
    state = span_context.trace_state.to_header()
    if state:
        headers[a.TRACESTATE] = state
