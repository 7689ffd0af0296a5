"""Kafka-specific errors (FastStream's ``faststream.kafka.exceptions``)."""

from __future__ import annotations

from topicflow.exceptions import FastStreamException, PublishError

__all__ = ["BatchBufferOverflowException", "FastStreamException"]


class BatchBufferOverflowException(PublishError):  # FastStream's name
    """A message did not fit in the batch being built; ``message_position`` is its index."""

    def __init__(self, message_position: int) -> None:
        super().__init__(
            f"message {message_position} does not fit in the batch; raise max_batch_size "
            "or publish it apart"
        )
        self.message_position = message_position
