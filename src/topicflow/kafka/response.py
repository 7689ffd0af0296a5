"""What a handler returns to choose the key and headers of its result (FastStream's module)."""

from __future__ import annotations

from topicflow.kafka.publisher import KafkaResponse, PublishCommand

__all__ = ["KafkaPublishCommand", "KafkaPublishMessage", "KafkaResponse"]

KafkaPublishCommand = PublishCommand
"""FastStream's name of :class:`~topicflow.kafka.PublishCommand`."""

KafkaPublishMessage = KafkaResponse
"""FastStream's other name of :class:`~topicflow.kafka.KafkaResponse`."""
