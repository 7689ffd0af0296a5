"""Handler annotations: the current span and the message's baggage."""

from __future__ import annotations

from typing import Annotated

from opentelemetry.trace import Span

from topicflow.opentelemetry._baggage import Baggage
from topicflow.params import Context

__all__ = ["CurrentBaggage", "CurrentSpan"]

CurrentSpan = Annotated[Span, Context("span")]
"""The process span of the message being handled (``span.set_attribute(...)``)."""

CurrentBaggage = Annotated[Baggage, Context("baggage")]
"""The baggage of the message being handled, carried on to what the handler publishes."""
