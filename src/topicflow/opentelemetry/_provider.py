"""What the telemetry middleware asks of a messaging system: names and attributes."""

from __future__ import annotations

from typing import Any, Protocol, TypeVar

__all__ = ["TelemetrySettingsProvider"]

MsgT_contra = TypeVar("MsgT_contra", contravariant=True)
CmdT_contra = TypeVar("CmdT_contra", contravariant=True)


class TelemetrySettingsProvider(Protocol[MsgT_contra, CmdT_contra]):
    """Span names and attributes of one messaging system (FastStream's protocol).

    ``msg`` is what a consumed message is to the middleware: the
    :class:`~topicflow.kafka.KafkaMessage` of a single message, the sequence of
    client records of a batch. ``cmd`` is the :class:`~topicflow.kafka.PublishCommand`
    of a publish.
    """

    messaging_system: str

    def get_consume_attrs_from_message(self, msg: MsgT_contra) -> dict[str, Any]:
        """The attributes of the process span."""
        ...

    def get_consume_destination_name(self, msg: MsgT_contra) -> str:
        """The topic the span names (``"<topic> process"``)."""
        ...

    def get_publish_attrs_from_cmd(self, cmd: CmdT_contra) -> dict[str, Any]:
        """The attributes of the publish (and create) span."""
        ...

    def get_publish_destination_name(self, cmd: CmdT_contra) -> str:
        """The topic the span names (``"<topic> publish"``)."""
        ...
