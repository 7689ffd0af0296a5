"""Kafka: the broker, subscribers, publishers, messages, the client's record types, and
TestKafkaBroker.

``TestKafkaBroker`` (and the in-memory Kafka behind it) and ``TestApp`` are imported
on first use,
so that a service imports no test machinery.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from topicflow._tasks import Backoff, Supervision
from topicflow.kafka._publish import PublishOptions, RequestOptions
from topicflow.kafka._runtime import Observer
from topicflow.kafka._transport import ConsumerRecord, RecordMetadata, TopicPartition
from topicflow.kafka.broker.broker import KafkaBroker
from topicflow.kafka.broker.router import KafkaPublisher, KafkaRoute, KafkaRouter
from topicflow.kafka.message import KafkaMessage
from topicflow.kafka.publisher import DefaultPublisher, KafkaResponse, PublishCommand
from topicflow.kafka.response import KafkaPublishCommand, KafkaPublishMessage
from topicflow.kafka.subscriber import (
    BatchSubscriber,
    ConcurrentBetweenPartitionsSubscriber,
    ConcurrentDefaultSubscriber,
    DefaultSubscriber,
)
from topicflow.kafka.topic import Topic
from topicflow.testing import TestApp

if TYPE_CHECKING:
    from topicflow.kafka.testing import TestKafkaBroker
    from topicflow.testing import TestApp

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
    "KafkaPublishCommand",
    "KafkaPublishMessage",
    "KafkaPublisher",
    "KafkaResponse",
    "KafkaRoute",
    "KafkaRouter",
    "Observer",
    "PublishCommand",
    "PublishOptions",
    "RecordMetadata",
    "RequestOptions",
    "Supervision",
    "TestApp",
    "TestKafkaBroker",
    "Topic",
    "TopicPartition",
]


def __getattr__(name: str) -> Any:
    if name == "TestKafkaBroker":
        from topicflow.kafka import testing

        return testing.TestKafkaBroker
    if name == "TestApp":
        from topicflow.testing import TestApp

        return TestApp
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
