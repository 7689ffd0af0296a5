"""The span attributes of Kafka records: FastStream's keys, and the semantic conventions'."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from topicflow._codec import encode_key
from topicflow.opentelemetry import _attributes as a

if TYPE_CHECKING:
    from collections.abc import Sequence

    from topicflow.kafka._transport import ConsumerRecord
    from topicflow.kafka.message import KafkaMessage
    from topicflow.kafka.publisher import PublishCommand

__all__ = [
    "BatchKafkaTelemetrySettingsProvider",
    "KafkaTelemetrySettingsProvider",
    "telemetry_attributes_provider_factory",
]


def _key_text(key: Any) -> str:
    raw = encode_key(key)
    assert raw is not None
    return raw.decode("utf-8", "backslashreplace")


class _Publishing:
    messaging_system = a.KAFKA

    def get_publish_attrs_from_cmd(self, cmd: PublishCommand) -> dict[str, Any]:
        attributes: dict[str, Any] = {
            a.SYSTEM: a.KAFKA,
            a.DESTINATION: cmd.topic,
        }
        if cmd.correlation_id is not None:
            attributes[a.CONVERSATION_ID] = cmd.correlation_id
        if cmd.partition is not None:
            attributes[a.KAFKA_PARTITION] = cmd.partition
            attributes[a.PARTITION_ID] = str(cmd.partition)
        if cmd.key is not None:
            attributes[a.KAFKA_KEY] = _key_text(cmd.key)
        return attributes

    def get_publish_destination_name(self, cmd: PublishCommand) -> str:
        return cmd.topic


class KafkaTelemetrySettingsProvider(_Publishing):
    """Names and attributes of single messages and of publishes."""

    def get_consume_attrs_from_message(self, msg: KafkaMessage) -> dict[str, Any]:
        record = msg.raw_message
        value = record.value
        size = 0 if value is None else len(value)
        topic = record.topic
        partition = record.partition
        offset = record.offset
        attributes: dict[str, Any] = {
            a.SYSTEM: a.KAFKA,
            a.DESTINATION_PUBLISH: topic,
            a.DESTINATION: topic,
            a.MESSAGE_ID: f"{topic}-{partition}-{offset}",
            a.PAYLOAD_SIZE: size,
            a.BODY_SIZE: size,
            a.KAFKA_PARTITION: partition,
            a.PARTITION_ID: str(partition),
            a.KAFKA_OFFSET_OLD: offset,
            a.KAFKA_OFFSET: offset,
            a.OPERATION: a.PROCESS,
            a.OPERATION_TYPE: a.PROCESS,
            a.OPERATION_NAME: a.PROCESS,
        }
        correlation_id = msg.header("correlation_id")
        if correlation_id is not None:
            attributes[a.CONVERSATION_ID] = correlation_id
        key = record.key
        if key is not None:
            attributes[a.KAFKA_KEY] = key.decode("utf-8", "backslashreplace")
        if value is None:
            attributes[a.KAFKA_TOMBSTONE] = True
        return attributes

    def get_consume_destination_name(self, msg: KafkaMessage) -> str:
        return msg.raw_message.topic


class BatchKafkaTelemetrySettingsProvider(_Publishing):
    """Names and attributes of batches (the records a batch handler gets)."""

    def get_consume_attrs_from_message(
        self, msg: Sequence[ConsumerRecord[bytes, bytes]]
    ) -> dict[str, Any]:
        first = msg[0]
        attributes: dict[str, Any] = {
            a.SYSTEM: a.KAFKA,
            a.DESTINATION_PUBLISH: first.topic,
            a.DESTINATION: first.topic,
            a.BATCH_COUNT: len(msg),
            a.PAYLOAD_SIZE: sum(len(r.value) for r in msg if r.value is not None),
            a.OPERATION: a.PROCESS,
            a.OPERATION_TYPE: a.PROCESS,
            a.OPERATION_NAME: a.PROCESS,
        }
        partition = first.partition
        if all(r.partition == partition and r.topic == first.topic for r in msg):
            attributes[a.KAFKA_PARTITION] = partition
            attributes[a.PARTITION_ID] = str(partition)
        return attributes

    def get_consume_destination_name(self, msg: Sequence[ConsumerRecord[bytes, bytes]]) -> str:
        return msg[0].topic


_SINGLE = KafkaTelemetrySettingsProvider()
_BATCH = BatchKafkaTelemetrySettingsProvider()


def telemetry_attributes_provider_factory(
    msg: ConsumerRecord[bytes, bytes] | Sequence[ConsumerRecord[bytes, bytes]] | None,
) -> KafkaTelemetrySettingsProvider | BatchKafkaTelemetrySettingsProvider:
    """The provider for a consumed record, a batch's records, or a publish (None)."""
    return _BATCH if isinstance(msg, list | tuple) else _SINGLE
