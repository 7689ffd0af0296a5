"""Prometheus metrics of consumed and published messages (FastStream's ``faststream.prometheus``).

Needs ``prometheus_client``: ``pip install 'topicflow[prometheus]'``. For Kafka,
use :class:`topicflow.kafka.prometheus.KafkaPrometheusMiddleware`, which adds
the consumer metrics (lag, committed offsets, rebalances, ...).
"""

from __future__ import annotations

try:
    import prometheus_client as _prometheus_client  # noqa: F401  # the extra is installed
except ImportError as exc:  # pragma: no cover  # the test venv has the extra
    raise ImportError(
        "topicflow's Prometheus metrics need prometheus_client: pip install 'topicflow[prometheus]'"
    ) from exc

from topicflow.prometheus._middleware import (
    ConsumeAttrs,
    MetricsSettingsProvider,
    PrometheusMiddleware,
)

__all__ = ["ConsumeAttrs", "MetricsSettingsProvider", "PrometheusMiddleware"]
