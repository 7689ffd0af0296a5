"""PrometheusMiddleware: counts, sizes and durations of what is consumed and published.

The same families, names and labels as FastStream's middleware (see
``docs/observability.md``). As a middleware it is a factory, as every
middleware is (:meth:`PrometheusMiddleware.__call__`, one small object per
message or publish); for a subscriber whose middlewares can all be folded at
start it also wraps the subscriber's call once
(:meth:`PrometheusMiddleware.consume_wrapper`), which costs a few dict and
integer operations per message.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Protocol, TypedDict

from topicflow.ack import Outcome
from topicflow.exceptions import (
    AckMessage,
    IgnoredException,
    NackMessage,
    RejectMessage,
    SkipMessage,
)
from topicflow.middlewares import BaseMiddleware
from topicflow.prometheus._collector import families_for
from topicflow.response import PublishType

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

    from prometheus_client import CollectorRegistry

    from topicflow._context import ContextRepo
    from topicflow.kafka.message import KafkaMessage
    from topicflow.kafka.publisher import PublishCommand
    from topicflow.prometheus._collector import Families

__all__ = [
    "DECIDED",
    "ConsumeAttrs",
    "MetricsSettingsProvider",
    "PrometheusMiddleware",
    "status_of",
]

#: A message's decision as a processing status (what is not here counts as acked).
DECIDED = {
    Outcome.ACK: "acked",
    Outcome.NACK: "nacked",
    Outcome.REJECT: "rejected",
    Outcome.SKIP: "skipped",
}
#: A handler's decision raised as an exception, as a processing status.
_RAISED: dict[type[BaseException], str] = {
    AckMessage: "acked",
    NackMessage: "nacked",
    RejectMessage: "rejected",
    SkipMessage: "skipped",
}


class ConsumeAttrs(TypedDict):
    """What the metrics of one consumed message (or batch) are made of."""

    message_size: int
    destination_name: str
    messages_count: int


class MetricsSettingsProvider(Protocol):
    """How a messaging system's messages and publishes become metric labels."""

    messaging_system: str

    def get_consume_attrs_from_message(self, msg: Any) -> ConsumeAttrs:
        """The size, topic and count of a consumed message (or batch)."""

    def get_publish_destination_name_from_cmd(self, cmd: Any) -> str:
        """Where a publish goes."""


def status_of(msg: Any, exc: BaseException | None) -> str:
    """The processing status of a message after its handler (FastStream's rule: the
    message's own decision first, then the decision raised, then ``error``)."""
    decided = DECIDED.get(getattr(msg, "status", None))  # type: ignore[arg-type]
    if decided is not None:
        return decided
    if exc is None:
        return "acked"
    return _RAISED.get(type(exc), "error")


class PrometheusMiddleware:
    """Prometheus metrics of every message consumed and every publish, in ``registry``.

    Args:
        settings_provider_factory: ``factory(raw message or None) -> provider``
            (None: no metrics for that message): labels for a messaging system.
        registry: the ``prometheus_client.CollectorRegistry`` the metrics live in.
        app_name: the ``app_name`` label (default: ``metrics_prefix``).
        metrics_prefix: the first part of every metric name.
        received_messages_size_buckets: bounds of the size histogram, in bytes.
        custom_labels: more labels: a fixed value, or ``f(raw message or None)``.
    """

    def __init__(
        self,
        *,
        settings_provider_factory: Callable[[Any], MetricsSettingsProvider | None],
        registry: CollectorRegistry,
        app_name: str | None = None,
        metrics_prefix: str = "topicflow",
        received_messages_size_buckets: Sequence[float] | None = None,
        custom_labels: dict[str, str | Callable[[Any], str]] | None = None,
    ) -> None:
        labels = dict(custom_labels or {})
        self._factory = settings_provider_factory
        self.registry = registry
        self.metrics_prefix = metrics_prefix
        self.app_name = metrics_prefix if app_name is None else app_name
        self._families: Families = families_for(
            registry, metrics_prefix, tuple(labels), received_messages_size_buckets
        )
        self._static = tuple((k, v) for k, v in labels.items() if not callable(v))
        self._dynamic = tuple((k, v) for k, v in labels.items() if callable(v))
        #: Label values in the declared order, for a raw message (or None).
        self._label_order = tuple(labels)

    def _custom(self, raw: Any) -> tuple[str, ...]:
        """The custom label values for ``raw`` (the record, a batch's records, or None)."""
        if not self._label_order:
            return ()
        values = dict(self._static)
        values.update((k, str(f(raw))) for k, f in self._dynamic)
        return tuple(values[k] for k in self._label_order)

    # -- as every middleware: a factory per message and per publish --------------

    def __call__(self, msg: Any | None, *, context: ContextRepo) -> BaseMiddleware:
        return _Scope(self, msg, context)

    # -- folded at start (topicflow.kafka._chain.ConsumeWrapper) -----------------

    def consume_wrapper(
        self, call: Callable[[KafkaMessage], Awaitable[Any]]
    ) -> Callable[[KafkaMessage], Awaitable[Any]]:
        """``call`` counted and timed, for one message at a time (built at start)."""
        factory = self._factory
        custom = self._custom
        series_of = self._families.process_series
        app = self.app_name
        clock = time.perf_counter

        async def consume(msg: KafkaMessage) -> Any:
            raw = msg.raw_message
            provider = factory(raw)
            if provider is None:
                return await call(msg)
            attrs = provider.get_consume_attrs_from_message(msg)
            labels = (app, provider.messaging_system, attrs["destination_name"], *custom(raw))
            return await _measured(series_of(labels), attrs, call, msg, clock)

        return consume


async def _measured(
    series: Any,
    attrs: ConsumeAttrs,
    call: Callable[[Any], Awaitable[Any]],
    msg: Any,
    clock: Callable[[], float],
) -> Any:
    """``call(msg)``, counted in ``series``: received, size, in process, duration,
    status, exception."""
    count = attrs["messages_count"]
    series.received += count
    series.size.observe(attrs["message_size"])
    series.in_process += count
    started = clock()
    try:
        result = await call(msg)
    except Exception as exc:
        series.duration.observe(clock() - started)
        series.in_process -= count
        if not isinstance(exc, IgnoredException):
            series.failed(type(exc).__name__)
        series.processed(status_of(msg, exc), count)
        raise
    series.duration.observe(clock() - started)
    series.in_process -= count
    series.processed(status_of(msg, None), count)
    return result


class _Scope(BaseMiddleware):
    """The middleware's object for one message (or batch), or one publish."""

    def __init__(self, owner: PrometheusMiddleware, msg: Any | None, context: ContextRepo) -> None:
        super().__init__(msg, context=context)
        self._owner = owner

    async def consume_scope(self, call_next: Callable[[Any], Awaitable[Any]], msg: Any) -> Any:
        owner = self._owner
        raw = self.msg
        provider = owner._factory(raw)
        if provider is None:
            return await call_next(msg)
        # A batch's consume_scope gets its bodies; the provider reads its records.
        view = _BatchView(raw, msg) if isinstance(msg, list) else msg
        attrs = provider.get_consume_attrs_from_message(view)
        labels = (owner.app_name, provider.messaging_system, attrs["destination_name"])
        series = owner._families.process_series((*labels, *owner._custom(raw)))
        return await _measured(series, attrs, call_next, msg, time.perf_counter)

    async def publish_scope(
        self, call_next: Callable[[PublishCommand], Awaitable[Any]], cmd: PublishCommand
    ) -> Any:
        owner = self._owner
        provider = owner._factory(None)
        if provider is None or cmd.publish_type is PublishType.REPLY:
            return await call_next(cmd)
        destination = provider.get_publish_destination_name_from_cmd(cmd)
        labels = (owner.app_name, provider.messaging_system, destination)
        series = owner._families.publish_series((*labels, *owner._custom(None)))
        count = len(cmd.batch) if cmd.batch is not None else 1
        started = time.perf_counter()
        try:
            result = await call_next(cmd)
        except Exception as exc:
            series.failed(type(exc).__name__)
            series.duration.observe(time.perf_counter() - started)
            series.published("error", count)
            raise
        series.duration.observe(time.perf_counter() - started)
        series.published("success", count)
        return result


class _BatchView:
    """A consumed batch as a settings provider reads it: its records and bodies."""

    __slots__ = ("body", "raw_message")

    def __init__(self, records: Any, bodies: list[Any]) -> None:
        self.raw_message = tuple(records or ())
        self.body = [record.value or b"" for record in self.raw_message] or bodies
