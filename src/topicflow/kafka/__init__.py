"""Kafka: the broker, subscribers, publishers, messages, the client's record types, and
TestKafkaBroker."""

from __future__ import annotations

from topicflow.kafka._transport import ConsumerRecord, RecordMetadata, TopicPartition
from topicflow.kafka.broker.broker import KafkaBroker
from topicflow.kafka.message import KafkaMessage
from topicflow.kafka.publisher import DefaultPublisher
from topicflow.kafka.subscriber import DefaultSubscriber
from topicflow.kafka.testing import TestKafkaBroker

__all__ = [
    "ConsumerRecord",
    "DefaultPublisher",
    "DefaultSubscriber",
    "KafkaBroker",
    "KafkaMessage",
    "RecordMetadata",
    "TestKafkaBroker",
    "TopicPartition",
]
