"""A FastStream 0.7 service with its own KafkaTelemetryMiddleware, for the trace tests.

Runs with the Python of FastStream's venv (see ``conftest.py``), never the
project's. Every span it finishes is printed on stdout as a JSON event
(``{"event": "span", ...}``); what its subscriber receives, with the baggage its
handler sees, as ``{"event": "received", ...}``.

    python faststream_otel_service.py '{"bootstrap": "...", "topics": {...}, "group": "..."}'

Commands on stdin, one JSON object a line: ``{"cmd": "publish", "topic", "body",
"correlation_id"}`` publishes with FastStream's ``broker.publish`` (outside a
handler, so FastStream makes its create and publish spans); ``{"cmd": "stop"}``.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.kafka.opentelemetry import KafkaTelemetryMiddleware
from faststream.opentelemetry import CurrentBaggage, CurrentSpan
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult


def emit(event: str, **fields: Any) -> None:
    print(json.dumps({"event": event, **fields}), flush=True)


class Printer(SpanExporter):
    def export(self, spans: Any) -> SpanExportResult:
        for span in spans:
            emit(
                "span",
                name=span.name,
                kind=span.kind.name,
                trace_id=span.context.trace_id,
                span_id=span.context.span_id,
                parent_id=span.parent.span_id if span.parent else None,
                attributes={k: v for k, v in span.attributes.items() if not isinstance(v, bytes)},
            )
        return SpanExportResult.SUCCESS


async def main(config: dict[str, Any]) -> None:
    topics = config["topics"]
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(Printer()))
    broker = KafkaBroker(
        config["bootstrap"],
        logger=None,
        middlewares=[KafkaTelemetryMiddleware(tracer_provider=provider)],
    )

    @broker.subscriber(
        topics["to_faststream"], group_id=config["group"], auto_offset_reset="earliest"
    )
    async def receive(
        body: dict[str, Any], message: KafkaMessage, span: CurrentSpan, bag: CurrentBaggage
    ) -> None:
        emit(
            "received",
            body=body,
            correlation_id=message.correlation_id,
            span_id=span.get_span_context().span_id,
            baggage=bag.get_all(),
        )

    await broker.start()
    emit("ready")
    try:
        while True:
            line = await asyncio.to_thread(sys.stdin.readline)
            if not line:
                return
            command = json.loads(line)
            if command["cmd"] == "stop":
                return
            if command["cmd"] == "publish":
                await broker.publish(
                    command["body"],
                    command["topic"],
                    correlation_id=command["correlation_id"],
                )
                emit("published", correlation_id=command["correlation_id"])
            else:
                emit("error", error=f"unknown command {command!r}")
    finally:
        await broker.stop()
        provider.shutdown()


if __name__ == "__main__":
    asyncio.run(main(json.loads(sys.argv[1])))
