"""Attribute keys and values of spans and metrics.

The keys FastStream's middleware writes are kept as it writes them, so that
trace queries and dashboards made for a FastStream service keep working
(several are names of the messaging semantic conventions before v1.26); the
current conventions' names are written beside them where FastStream writes
nothing. Written here as plain strings: topicflow needs no
``opentelemetry-semantic-conventions``.
"""

from __future__ import annotations

__all__: list[str] = []  # constants for topicflow's own modules

# FastStream's keys (old and current semantic conventions).
SYSTEM = "messaging.system"
DESTINATION = "messaging.destination.name"
DESTINATION_PUBLISH = "messaging.destination_publish.name"
CONVERSATION_ID = "messaging.message.conversation_id"
MESSAGE_ID = "messaging.message.id"
PAYLOAD_SIZE = "messaging.message.payload_size_bytes"
KAFKA_PARTITION = "messaging.kafka.destination.partition"
KAFKA_OFFSET_OLD = "messaging.kafka.message.offset"
KAFKA_KEY = "messaging.kafka.message.key"
BATCH_COUNT = "messaging.batch.message_count"
OPERATION = "messaging.operation"
ERROR_TYPE = "error.type"

# Current semantic conventions (messaging, Kafka) where FastStream writes nothing.
OPERATION_TYPE = "messaging.operation.type"
OPERATION_NAME = "messaging.operation.name"
PARTITION_ID = "messaging.destination.partition.id"
CONSUMER_GROUP = "messaging.consumer.group.name"
KAFKA_OFFSET = "messaging.kafka.offset"
KAFKA_TOMBSTONE = "messaging.kafka.message.tombstone"
BODY_SIZE = "messaging.message.body.size"

KAFKA = "kafka"

# Operations: FastStream's span names end with them ("orders publish").
CREATE = "create"
PUBLISH = "publish"
PROCESS = "process"

#: The baggage entry FastStream's producer adds to every record of a batch publish;
#: its consumers read it to link a batch's spans instead of parenting them.
WITH_BATCH = "with_batch"

# Metric names, as FastStream's (the semantic conventions' names before v1.26).
PUBLISH_DURATION = "messaging.publish.duration"
PROCESS_DURATION = "messaging.process.duration"
PUBLISH_MESSAGES = "messaging.publish.messages"
PROCESS_MESSAGES = "messaging.process.messages"
# topicflow's own: no convention names these, so they are in topicflow's namespace.
RETRIED_MESSAGES = "topicflow.kafka.retried_messages"
DEAD_LETTERED_MESSAGES = "topicflow.kafka.dead_lettered_messages"
POISON_MESSAGES = "topicflow.kafka.poison_messages"

# Record headers of the W3C trace context and baggage (what FastStream reads and writes).
TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"
BAGGAGE = "baggage"
