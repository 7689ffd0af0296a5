"""Prometheus metrics of a Kafka service: :class:`KafkaPrometheusMiddleware`.

FastStream's metric families (received, processed, published: counts, sizes,
durations, exceptions), and the consumer's own: lag, committed offsets,
rebalances, poison messages, fetch-loop restarts. See ``docs/observability.md``.
Needs ``prometheus_client``: ``pip install 'topicflow[prometheus]'``.
"""

from __future__ import annotations

import topicflow.prometheus  # noqa: F401  # first: names the extra if prometheus_client is missing
from topicflow.kafka.prometheus._middleware import KafkaPrometheusMiddleware

__all__ = ["KafkaPrometheusMiddleware"]
