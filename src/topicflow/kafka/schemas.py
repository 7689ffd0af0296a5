"""FastStream's ``faststream.kafka.schemas``: :class:`Topic` (a topic declared with its
settings) and :class:`TopicPartition`."""

from __future__ import annotations

from topicflow.kafka._transport import TopicPartition
from topicflow.kafka.topic import Topic

__all__ = ["Topic", "TopicPartition"]
