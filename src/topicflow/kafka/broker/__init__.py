"""The Kafka broker and its registration API."""

from __future__ import annotations

from topicflow.kafka.broker.broker import KafkaBroker

__all__ = ["KafkaBroker"]
