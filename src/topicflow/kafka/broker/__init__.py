"""The Kafka broker and its registration API."""

from __future__ import annotations

from topicflow.kafka.broker.broker import KafkaBroker
from topicflow.kafka.broker.router import KafkaPublisher, KafkaRoute, KafkaRouter

__all__ = ["KafkaBroker", "KafkaPublisher", "KafkaRoute", "KafkaRouter"]
