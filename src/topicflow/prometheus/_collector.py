"""The metric families of the Prometheus middleware, kept as plain numbers and exposed
by one ``prometheus_client`` collector per registry and prefix.

``prometheus_client``'s own ``Counter`` and ``Histogram`` take a lock and look up
their labelled child on every change, which costs more than topicflow's whole
consume path. Here each label set (a :class:`Series`) is a small object of
integers, found by one dict lookup and changed in place by the consume path
(on the event loop's thread); :meth:`Families.collect`, called by the registry
on a scrape (from whatever thread serves it), turns them into the same
exposition: the same family names, types, label names, ``_total``,
``_bucket``/``_sum``/``_count`` and ``_created`` samples. Snapshots are taken
with ``list(dict.items())``, one C call the event loop cannot interleave with.
"""

from __future__ import annotations

import bisect
import time
import weakref
from typing import TYPE_CHECKING, Any

from prometheus_client import metrics as _client_metrics
from prometheus_client.metrics_core import Metric
from prometheus_client.utils import floatToGoString

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

    from prometheus_client import CollectorRegistry

__all__ = [
    "DURATION_BUCKETS",
    "SIZE_BUCKETS",
    "Families",
    "Histogram",
    "ProcessSeries",
    "PublishSeries",
    "count",
    "families_for",
]

#: Bounds of the received message size histogram (bytes): 16 B to 16 MiB, by fours.
SIZE_BUCKETS: tuple[float, ...] = (*(2.0 ** (4 + 2 * i) for i in range(11)), float("inf"))
#: Bounds of the duration histograms (seconds): prometheus_client's defaults.
DURATION_BUCKETS: tuple[float, ...] = (
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, float("inf"),
)  # fmt: skip


def _bounds(buckets: Sequence[float]) -> tuple[float, ...]:
    bounds = tuple(float(b) for b in buckets)
    if list(bounds) != sorted(bounds):
        raise ValueError(f"histogram buckets must be sorted, got {list(buckets)}")
    return bounds if bounds and bounds[-1] == float("inf") else (*bounds, float("inf"))


def _le(bound: float) -> str:
    """A bucket bound as the ``le`` label writes it (as prometheus_client does)."""
    text: str = floatToGoString(bound)  # type: ignore[no-untyped-call]
    return text


class Histogram:
    """Observations counted per bucket (not cumulative: :meth:`samples` adds them up)."""

    __slots__ = ("bounds", "counts", "created", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * len(bounds)
        self.sum = 0.0
        self.created = time.time()

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.sum += value

    def samples(self, metric: Metric, labels: dict[str, str], created: bool) -> None:
        total = 0
        for bound, count in zip(self.bounds, list(self.counts), strict=True):
            total += count
            le = {**labels, "le": _le(bound)}
            metric.add_sample(metric.name + "_bucket", le, total)
        metric.add_sample(metric.name + "_count", labels, total)
        metric.add_sample(metric.name + "_sum", labels, self.sum)
        if created:
            metric.add_sample(metric.name + "_created", labels, self.created)


class ProcessSeries:
    """What was received and processed under one label set (app, broker, handler, custom)."""

    __slots__ = (
        "acked",
        "created",
        "duration",
        "exceptions",
        "in_process",
        "received",
        "size",
        "status",
    )

    def __init__(self, size_bounds: tuple[float, ...]) -> None:
        self.received = 0
        self.in_process = 0
        #: Messages processed with status ``acked`` that :meth:`processed` did not count
        #: (the usual case, counted in place by the consume path).
        self.acked = 0
        self.size = Histogram(size_bounds)
        self.duration = Histogram(DURATION_BUCKETS)
        #: Processed messages by status, and exceptions by type: (count, created).
        self.status: dict[str, list[float]] = {}
        self.exceptions: dict[str, list[float]] = {}
        self.created = time.time()

    def processed(self, status: str, by: int = 1) -> None:
        count(self.status, status, by)

    def failed(self, exception_type: str) -> None:
        count(self.exceptions, exception_type)


class PublishSeries:
    """What was published under one label set (app, broker, destination, custom)."""

    __slots__ = ("duration", "exceptions", "status")

    def __init__(self) -> None:
        self.duration = Histogram(DURATION_BUCKETS)
        self.status: dict[str, list[float]] = {}
        self.exceptions: dict[str, list[float]] = {}

    def published(self, status: str, by: int) -> None:
        count(self.status, status, by)

    def failed(self, exception_type: str) -> None:
        count(self.exceptions, exception_type)


def count(counters: dict[str, list[float]], label: str, by: int = 1) -> None:
    """Add ``by`` to the counter of ``label`` in ``counters`` (label -> [count, created]),
    made at 0 now if it is new."""
    entry = counters.get(label)
    if entry is None:
        entry = counters[label] = [0, time.time()]
    entry[0] += by


class Families:
    """Every family of one metrics prefix in one registry: the registry's collector."""

    def __init__(
        self, prefix: str, custom_label_names: tuple[str, ...], size_bounds: tuple[float, ...]
    ) -> None:
        self.prefix = prefix
        self.custom_label_names = custom_label_names
        self.size_bounds = size_bounds
        #: By label values: (app_name, broker, handler, *custom).
        self.process: dict[tuple[str, ...], ProcessSeries] = {}
        #: By label values: (app_name, broker, destination, *custom).
        self.publish: dict[tuple[str, ...], PublishSeries] = {}
        #: Sources of more families, by name (the Kafka consumer metrics).
        self.extra: dict[str, Callable[[str, bool], Iterator[Metric]]] = {}

    def process_series(self, labels: tuple[str, ...]) -> ProcessSeries:
        series = self.process.get(labels)
        if series is None:
            series = self.process[labels] = ProcessSeries(self.size_bounds)
        return series

    def publish_series(self, labels: tuple[str, ...]) -> PublishSeries:
        series = self.publish.get(labels)
        if series is None:
            series = self.publish[labels] = PublishSeries()
        return series

    # -- the collector -----------------------------------------------------------

    def _names(self) -> list[tuple[str, str, str]]:
        p = self.prefix
        return [
            (f"{p}_received_messages", "counter", "Messages received, by handler (topic)"),
            (f"{p}_received_messages_size_bytes", "histogram", "Size of received messages"),
            (f"{p}_received_messages_in_process", "gauge", "Messages being processed now"),
            (f"{p}_received_processed_messages", "counter", "Messages processed, by status"),
            (
                f"{p}_received_processed_messages_duration_seconds",
                "histogram",
                "Time to process a received message",
            ),
            (
                f"{p}_received_processed_messages_exceptions",
                "counter",
                "Exceptions raised while processing, by exception type",
            ),
            (f"{p}_published_messages", "counter", "Messages published, by destination and status"),
            (
                f"{p}_published_messages_duration_seconds",
                "histogram",
                "Time to publish a message",
            ),
            (
                f"{p}_published_messages_exceptions",
                "counter",
                "Exceptions raised while publishing, by exception type",
            ),
        ]

    def describe(self) -> list[Metric]:
        """The families (without samples), for the registry's check of duplicate names."""
        described = [Metric(name, doc, kind) for name, kind, doc in self._names()]
        for extra in list(self.extra.values()):
            described.extend(extra(self.prefix, False))
        return described

    def collect(self) -> Iterator[Metric]:
        """Every family with its samples now."""
        created = bool(getattr(_client_metrics, "_use_created", True))
        metrics = [Metric(name, doc, kind) for name, kind, doc in self._names()]
        received, size, in_process, processed, duration, exceptions = metrics[:6]
        published, publish_duration, publish_exceptions = metrics[6:]
        custom = self.custom_label_names
        for values, series in list(self.process.items()):
            app, broker, handler, *rest = values
            base = {"app_name": app, "broker": broker, "handler": handler}
            labels = {**base, **dict(zip(custom, rest, strict=True))}
            _counter(received, labels, series.received, series.created, created)
            series.size.samples(size, labels, created)
            in_process.add_sample(in_process.name, labels, series.in_process)
            statuses = dict(series.status.items())
            if series.acked:
                count, at = statuses.get("acked", (0, series.created))
                statuses["acked"] = [count + series.acked, at]
            for status, (count, at) in statuses.items():
                _counter(processed, {**base, "status": status, **labels}, count, at, created)
            series.duration.samples(duration, labels, created)
            for kind, (count, at) in list(series.exceptions.items()):
                typed = {**base, "exception_type": kind, **labels}
                _counter(exceptions, typed, count, at, created)
        for values, pub in list(self.publish.items()):
            app, broker, destination, *rest = values
            base = {"app_name": app, "broker": broker, "destination": destination}
            labels = {**base, **dict(zip(custom, rest, strict=True))}
            for status, (count, at) in list(pub.status.items()):
                _counter(published, {**base, "status": status, **labels}, count, at, created)
            pub.duration.samples(publish_duration, labels, created)
            for kind, (count, at) in list(pub.exceptions.items()):
                typed = {**base, "exception_type": kind, **labels}
                _counter(publish_exceptions, typed, count, at, created)
        yield from metrics
        for extra in list(self.extra.values()):
            yield from extra(self.prefix, created)


def _counter(
    metric: Metric, labels: dict[str, str], value: float, at: float, created: bool
) -> None:
    metric.add_sample(metric.name + "_total", labels, value)
    if created:
        metric.add_sample(metric.name + "_created", labels, at)


#: The families of each registry, by prefix: middlewares on one registry share them.
_FAMILIES: weakref.WeakKeyDictionary[Any, dict[str, Families]] = weakref.WeakKeyDictionary()


def families_for(
    registry: CollectorRegistry,
    prefix: str,
    custom_label_names: tuple[str, ...],
    size_buckets: Sequence[float] | None,
) -> Families:
    """The families of ``prefix`` in ``registry``, registered there on first use.

    A second middleware on the same registry and prefix shares them, so its
    custom label names and size buckets must be the same.
    """
    bounds = _bounds(size_buckets or SIZE_BUCKETS)
    by_prefix = _FAMILIES.setdefault(registry, {})
    families = by_prefix.get(prefix)
    if families is None:
        families = Families(prefix, custom_label_names, bounds)
        registry.register(families)
        by_prefix[prefix] = families
    elif families.custom_label_names != custom_label_names or families.size_bounds != bounds:
        raise ValueError(
            f"the {prefix!r} metrics of this registry were made with custom labels "
            f"{list(families.custom_label_names)} and size buckets {list(families.size_bounds)}; "
            "give every Prometheus middleware of one registry and prefix the same ones, "
            "or another metrics_prefix"
        )
    return families
