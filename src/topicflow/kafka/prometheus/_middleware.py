"""KafkaPrometheusMiddleware: the Prometheus middleware for Kafka, with consumer metrics."""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from topicflow.exceptions import IgnoredException
from topicflow.kafka.prometheus._consumers import consumer_families
from topicflow.prometheus._middleware import DECIDED, PrometheusMiddleware, status_of

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from prometheus_client import CollectorRegistry

    from topicflow.kafka.message import KafkaMessage
    from topicflow.kafka.prometheus._consumers import GroupWatch
    from topicflow.prometheus._collector import Histogram, ProcessSeries
    from topicflow.prometheus._middleware import ConsumeAttrs

__all__ = ["KafkaPrometheusMiddleware"]


class _Message:
    """Labels of one consumed Kafka message, and of a publish."""

    messaging_system = "kafka"

    def get_consume_attrs_from_message(self, msg: Any) -> ConsumeAttrs:
        return {
            "destination_name": msg.raw_message.topic,
            "message_size": len(msg.body),
            "messages_count": 1,
        }

    def get_publish_destination_name_from_cmd(self, cmd: Any) -> str:
        return str(cmd.topic)


class _Batch(_Message):
    """Labels of one consumed batch: its first record's topic, its bodies' total size."""

    def get_consume_attrs_from_message(self, msg: Any) -> ConsumeAttrs:
        records = msg.raw_message
        return {
            "destination_name": records[0].topic if records else "",
            "message_size": sum(len(body) for body in msg.body),
            "messages_count": len(records),
        }


_MESSAGE = _Message()
_BATCH = _Batch()


def _provider(msg: Any) -> _Message:
    return _BATCH if isinstance(msg, Sequence) and not isinstance(msg, tuple | bytes) else _MESSAGE


class KafkaPrometheusMiddleware(PrometheusMiddleware):
    """Prometheus metrics of a Kafka service, in ``registry``.

    FastStream's families: ``<prefix>_received_messages_total``,
    ``..._received_messages_size_bytes``, ``..._received_messages_in_process``,
    ``..._received_processed_messages_total`` (by ``status``),
    ``..._received_processed_messages_duration_seconds``,
    ``..._received_processed_messages_exceptions_total`` (by ``exception_type``),
    ``..._published_messages_total`` (by ``status``),
    ``..._published_messages_duration_seconds``,
    ``..._published_messages_exceptions_total``; with ``metrics_prefix="faststream"``
    the names are FastStream's. And the consumers': ``<prefix>_kafka_consumer_lag``,
    ``..._kafka_committed_offset``, ``..._kafka_assigned_partitions``,
    ``..._kafka_rebalances_total``, ``..._kafka_poison_messages_total``,
    ``..._kafka_fetch_restarts_total``, ``..._kafka_retried_messages_total``,
    ``..._kafka_dead_lettered_messages_total`` (``retry=``, ``dead_letter=``).

    Args:
        registry: the ``prometheus_client.CollectorRegistry`` the metrics live in.
        app_name: the ``app_name`` label (default: ``metrics_prefix``).
        metrics_prefix: the first part of every metric name.
        received_messages_size_buckets: bounds of the size histogram, in bytes
            (default: 16 B to 16 MiB, by powers of four).
        custom_labels: more labels on the message and publish families: a fixed
            value, or ``f(record)`` (``None`` for a publish; a batch's records).
    """

    def __init__(
        self,
        *,
        registry: CollectorRegistry,
        app_name: str | None = None,
        metrics_prefix: str = "topicflow",
        received_messages_size_buckets: Sequence[float] | None = None,
        custom_labels: dict[str, str | Callable[[Any], str]] | None = None,
    ) -> None:
        super().__init__(
            settings_provider_factory=_provider,
            registry=registry,
            app_name=app_name,
            metrics_prefix=metrics_prefix,
            received_messages_size_buckets=received_messages_size_buckets,
            custom_labels=custom_labels,
        )
        self._consumers = consumer_families(self._families)

    def watch_consumer(self, group_id: str | None) -> GroupWatch:
        """The consumer metrics of ``group_id`` (a ``topicflow.kafka._watch.Watcher``)."""
        return self._consumers.watch(self.app_name, group_id)

    def consume_wrapper(
        self, call: Callable[[KafkaMessage], Awaitable[Any]]
    ) -> Callable[[KafkaMessage], Awaitable[Any]]:
        """``call`` counted and timed (built at start): one dict lookup per message
        finds the topic's series."""
        families = self._families
        app = self.app_name
        custom = self._custom
        dynamic = bool(self._dynamic)
        fixed = self._custom(None) if not dynamic else ()
        by_topic: dict[str, tuple[ProcessSeries, Histogram, Histogram]] = {}
        clock = time.perf_counter
        decided = DECIDED.get
        bisect = bisect_left

        def slot_of(record: Any) -> tuple[ProcessSeries, Histogram, Histogram]:
            if dynamic:
                series = families.process_series((app, "kafka", record.topic, *custom(record)))
                return series, series.size, series.duration
            series = families.process_series((app, "kafka", record.topic, *fixed))
            slot = by_topic[record.topic] = (series, series.size, series.duration)
            return slot

        async def consume(msg: KafkaMessage) -> Any:
            # Histogram.observe() inlined: this runs for every message.
            record = msg.raw_message
            series, size, duration = by_topic.get(record.topic) or slot_of(record)
            series.received += 1
            value = record.value
            length = len(value) if value is not None else 0
            size.counts[bisect(size.bounds, length)] += 1
            size.sum += length
            series.in_process += 1
            started = clock()
            try:
                result = await call(msg)
            except Exception as exc:
                duration.observe(clock() - started)
                series.in_process -= 1
                if not isinstance(exc, IgnoredException):
                    series.failed(type(exc).__name__)
                series.processed(status_of(msg, exc))
                raise
            elapsed = clock() - started
            duration.counts[bisect(duration.bounds, elapsed)] += 1
            duration.sum += elapsed
            series.in_process -= 1
            status = msg.status
            if status is None:
                series.acked += 1
            else:
                series.processed(decided(status, "acked"))
            return result

        return consume
