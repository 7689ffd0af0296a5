"""OpenTelemetry for topicflow services (FastStream's ``faststream.opentelemetry``).

``Baggage``, the handler annotations ``CurrentSpan`` and ``CurrentBaggage``, and
the system-neutral ``TelemetryMiddleware``; Kafka services list
:class:`topicflow.kafka.opentelemetry.KafkaTelemetryMiddleware`. Needs the
``otel`` extra: ``pip install 'topicflow[otel]'``.
"""

from __future__ import annotations

try:
    from topicflow.opentelemetry._annotations import CurrentBaggage, CurrentSpan
    from topicflow.opentelemetry._baggage import Baggage
    from topicflow.opentelemetry._middleware import TelemetryMiddleware
    from topicflow.opentelemetry._provider import TelemetrySettingsProvider
except ModuleNotFoundError as exc:
    if not (exc.name or "").startswith("opentelemetry"):
        raise
    raise ModuleNotFoundError(
        f"topicflow's OpenTelemetry support needs the OpenTelemetry API ({exc.name} is "
        "missing): pip install 'topicflow[otel]'",
        name=exc.name,
    ) from exc

__all__ = [
    "Baggage",
    "CurrentBaggage",
    "CurrentSpan",
    "TelemetryMiddleware",
    "TelemetrySettingsProvider",
]
