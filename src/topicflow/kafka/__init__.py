"""Kafka: the broker, subscribers, publishers, messages, the client's record types, and
TestKafkaBroker."""

from __future__ import annotations

from topicflow.kafka._loop import Backoff
from topicflow.kafka._transport import ConsumerRecord, RecordMetadata, TopicPartition
from topicflow.kafka.broker.broker import KafkaBroker
from topicflow.kafka.broker.router import KafkaPublisher, KafkaRoute, KafkaRouter
from topicflow.kafka.message import KafkaMessage
from topicflow.kafka.publisher import DefaultPublisher, KafkaResponse, PublishCommand
from topicflow.kafka.subscriber import (
    BatchSubscriber,
    ConcurrentBetweenPartitionsSubscriber,
    ConcurrentDefaultSubscriber,
    DefaultSubscriber,
)
from topicflow.kafka.testing import TestKafkaBroker
from topicflow.kafka.topic import Topic

__all__ = [
    "Backoff",
    "BatchSubscriber",
    "ConcurrentBetweenPartitionsSubscriber",
    "ConcurrentDefaultSubscriber",
    "ConsumerRecord",
    "DefaultPublisher",
    "DefaultSubscriber",
    "KafkaBroker",
    "KafkaMessage",
    "KafkaPublisher",
    "KafkaResponse",
    "KafkaRoute",
    "KafkaRouter",
    "PublishCommand",
    "RecordMetadata",
    "TestKafkaBroker",
    "Topic",
    "TopicPartition",
]
