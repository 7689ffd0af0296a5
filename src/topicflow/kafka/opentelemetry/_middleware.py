"""KafkaTelemetryMiddleware: the telemetry middleware with Kafka's attributes."""

from __future__ import annotations

from typing import TYPE_CHECKING

from topicflow.kafka.opentelemetry._provider import telemetry_attributes_provider_factory
from topicflow.opentelemetry import TelemetryMiddleware

if TYPE_CHECKING:
    from opentelemetry.metrics import Meter, MeterProvider
    from opentelemetry.trace import TracerProvider

__all__ = ["KafkaTelemetryMiddleware"]


class KafkaTelemetryMiddleware(TelemetryMiddleware):
    """OpenTelemetry traces and metrics of a Kafka service.

    ``KafkaBroker(middlewares=[KafkaTelemetryMiddleware(tracer_provider=...)])``:
    a ``"<topic> process"`` span per consumed message (or batch), a
    ``"<topic> publish"`` span per publish, the W3C trace context and baggage in
    record headers, and the ``messaging.process.duration`` and
    ``messaging.publish.duration`` histograms with message counters.
    See ``docs/observability.md``.

    Args:
        tracer_provider: where spans go (OpenTelemetry's global provider when None).
        meter_provider: where metrics go (the global one when None).
        meter: the meter to record with (instead of one of ``meter_provider``).
        include_messages_counters: also count messages processed and published.
    """

    def __init__(
        self,
        *,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
        meter: Meter | None = None,
        include_messages_counters: bool = True,
    ) -> None:
        super().__init__(
            settings_provider_factory=telemetry_attributes_provider_factory,
            tracer_provider=tracer_provider,
            meter_provider=meter_provider,
            meter=meter,
            include_messages_counters=include_messages_counters,
        )
