"""Baggage: the W3C baggage of the message being handled, which a handler may change.

A handler asks for it with ``baggage: CurrentBaggage``; what it holds when the
handler publishes is carried on in the ``baggage`` header of the records it
publishes (with the middleware in force there).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from opentelemetry import baggage, context
from opentelemetry.baggage.propagation import W3CBaggagePropagator

from topicflow.opentelemetry._attributes import BAGGAGE, WITH_BATCH

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from typing import Self

    from topicflow.kafka.message import KafkaMessage

__all__ = ["Baggage", "header_value", "parse"]

_PROPAGATOR = W3CBaggagePropagator()
_UNREAD: Any = object()


def parse(header: str | None) -> dict[str, Any]:
    """The entries of a ``baggage`` header value (FastStream's batch marker left out)."""
    if not header:
        return {}
    entries = dict(baggage.get_all(_PROPAGATOR.extract({BAGGAGE: header})))
    entries.pop(WITH_BATCH, None)
    return entries


def header_value(entries: Mapping[str, Any], base: context.Context | None = None) -> str | None:
    """The ``baggage`` header carrying ``entries`` over the baggage of ``base`` (the
    current OpenTelemetry context when None), or None when there is none at all."""
    ctx = context.get_current() if base is None else base
    for name, value in entries.items():
        ctx = baggage.set_baggage(name, value, context=ctx)
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier, ctx)
    return carrier.get(BAGGAGE)


class Baggage:
    """The baggage of a consumed message (a batch's: the entries of all its records).

    Read and change it in a handler; the middleware carries what it holds on to
    what the handler publishes. A record's ``baggage`` header is parsed on first use.

    Args:
        payload: the entries.
        batch_payload: for a batch, each record's entries.
    """

    __slots__ = ("_baggage", "_batch_baggage", "_header")

    def __init__(
        self, payload: Mapping[str, Any], batch_payload: Iterable[Mapping[str, Any]] | None = None
    ) -> None:
        self._baggage: dict[str, Any] = dict(payload)
        self._batch_baggage = [dict(entries) for entries in batch_payload or ()]
        self._header: str | None = None

    @classmethod
    def _of_header(cls, header: str | None) -> Self:
        """A record's baggage, parsed when first used."""
        self = cls.__new__(cls)
        self._baggage = _UNREAD
        self._batch_baggage = []
        self._header = header
        return self

    def _entries(self) -> dict[str, Any]:
        entries = self._baggage
        if entries is _UNREAD:
            entries = self._baggage = parse(self._header)
        return entries

    def _as_received(self) -> str | None:
        """The header it was made from, while that was not parsed (so nothing changed)
        and holds no batch marker; else None."""
        header = self._header
        if self._baggage is not _UNREAD or header is None or WITH_BATCH in header:
            return None
        return header

    def get_all(self) -> dict[str, Any]:
        """A copy of the entries."""
        return self._entries().copy()

    def get_all_batch(self) -> list[dict[str, Any]]:
        """For a batch: a copy of each record's entries (else an empty list)."""
        return [entries.copy() for entries in self._batch_baggage]

    def get(self, key: str) -> Any | None:
        """The value of an entry, or None."""
        return self._entries().get(key)

    def set(self, key: str, value: Any) -> None:
        """Set an entry (carried on to what the handler publishes)."""
        self._entries()[key] = value

    def remove(self, key: str) -> None:
        """Remove an entry (it is not carried on)."""
        self._entries().pop(key, None)

    def clear(self) -> None:
        """Remove every entry."""
        self._entries().clear()

    def to_headers(self, headers: dict[str, Any] | None = None) -> dict[str, Any]:
        """``headers`` (a new dict when None) with a ``baggage`` header holding these
        entries over the baggage of the current OpenTelemetry context."""
        headers = {} if headers is None else headers
        value = header_value(self._entries())
        if value is not None:
            headers[BAGGAGE] = value
        return headers

    @classmethod
    def from_msg(cls, msg: KafkaMessage) -> Self:
        """The baggage of a consumed message."""
        return cls.from_headers(msg.headers)

    @classmethod
    def from_headers(cls, headers: Mapping[str, Any]) -> Self:
        """The baggage of a ``baggage`` header in ``headers`` (``str`` or ``bytes``)."""
        value = headers.get(BAGGAGE)
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        return cls(parse(value))

    def __repr__(self) -> str:
        return repr(self._entries())
