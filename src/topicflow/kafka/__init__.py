"""Kafka: the broker, subscribers, publishers, messages, the client's record types, and
TestKafkaBroker.

``TestKafkaBroker`` (and the in-memory Kafka behind it) and ``TestApp`` are imported
on first use,
so that a service imports no test machinery.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeAlias

# ``from __future__ import annotations`` bound the name ``annotations`` here to a
# compiler flag, which ``from topicflow.kafka import annotations`` would return;
# importing the submodule rebinds the name to it.
import topicflow.kafka.annotations  # noqa: F401
from topicflow._tasks import Backoff, Supervision
from topicflow.kafka._publish import PublishOptions, RequestOptions
from topicflow.kafka._readiness import Readiness
from topicflow.kafka._retry import Retry
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
    "KafkaParserType",
    "KafkaPublishCommand",
    "KafkaPublishMessage",
    "KafkaPublisher",
    "KafkaResponse",
    "KafkaRoute",
    "KafkaRouter",
    "Observer",
    "PublishCommand",
    "PublishOptions",
    "Readiness",
    "RecordMetadata",
    "RequestOptions",
    "Retry",
    "Supervision",
    "TestApp",
    "TestKafkaBroker",
    "Topic",
    "TopicPartition",
]

#: What ``parser=`` takes: ``parser(record)`` or ``parser(record, default_parser)``,
#: sync or async, returning the :class:`KafkaMessage` handlers get.
KafkaParserType: TypeAlias = Callable[..., Any]


def __getattr__(name: str) -> Any:
    if name == "TestKafkaBroker":
        from topicflow.kafka import testing

        return testing.TestKafkaBroker
    if name == "TestApp":
        from topicflow.testing import TestApp

        return TestApp
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
