"""OpenTelemetry for Kafka services: ``KafkaTelemetryMiddleware`` (FastStream's
``faststream.kafka.opentelemetry``). Needs ``pip install 'topicflow[otel]'``."""

from __future__ import annotations

from topicflow.kafka.opentelemetry._middleware import KafkaTelemetryMiddleware

__all__ = ["KafkaTelemetryMiddleware"]
