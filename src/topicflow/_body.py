"""Record bodies read as a handler's types, and the errors of input that does not fit.

One reader per annotation holds the rules, and every path that reads a body
uses it: a handler's body parameter, a batch handler's items one message at a
time, and the bodies of a fetch's client records at once. A reader takes a
``ConsumerRecord`` (for a message, its ``raw_message``); the record value and
its last ``content-type`` header decide:

=================  =============================================================
annotation         the record value becomes
=================  =============================================================
``bytes``          the value as is (``b""`` for a tombstone)
``Any`` (or none)  decoded by content type: JSON values, ``str`` for text, else bytes
``str``            a JSON string for a JSON content type, else the UTF-8 text
anything else      for a ``text/*`` content type the text, validated (``"7"`` is
                   an ``int``); else JSON, parsed and validated in one go by
                   pydantic-core (also without a content type)
=================  =============================================================

A value that is not ``bytes`` (a tombstone's ``None``, or what a consumer's
``value_deserializer`` made of it) is validated as a Python value.

Readers raise ``ValueError`` (pydantic's ``ValidationError``, ``UnicodeDecodeError``)
for input that does not fit; :func:`decode_error` turns it into the
:class:`~topicflow.exceptions.DecodeError` that marks a poison message.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any

import pydantic_core
from pydantic import TypeAdapter, ValidationError

from topicflow._codec import decode_body, is_json
from topicflow.exceptions import DecodeError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence
    from typing import TypeAlias

    from topicflow.kafka._transport import ConsumerRecord
    from topicflow.kafka.message import KafkaMessage

    #: A record's body as one annotation's value; raises ValueError.
    Reader: TypeAlias = Callable[[ConsumerRecord[Any, Any]], Any]
    #: The bodies of many records; raises ValueError when one does not fit.
    RecordsReader: TypeAlias = Callable[[Sequence[ConsumerRecord[Any, Any]]], list[Any]]

__all__ = ["BODY_ERRORS", "decode_error", "read_any", "reader", "records_reader", "where"]

#: Errors of reading the input (ValidationError and UnicodeDecodeError are ValueErrors too).
BODY_ERRORS = (ValueError,)


def reader(annotation: Any) -> Reader:
    """The fastest way to read a record's body as ``annotation``."""
    if annotation is bytes:
        return _read_bytes
    if annotation is Any or annotation is inspect.Parameter.empty:
        return read_any
    validate_json, validate_python = _validators(annotation)

    if annotation is str:

        def read_text(record: ConsumerRecord[Any, Any]) -> Any:
            value = record.value
            if type(value) is not bytes:
                return validate_python(value)
            if is_json(_content_type_text(record.headers)):
                return validate_json(value)
            return value.decode()

        return read_text

    def read(record: ConsumerRecord[Any, Any]) -> Any:
        value = record.value
        if type(value) is not bytes:
            return validate_python(value)
        # The last content-type header counts, as in KafkaMessage.raw_header(). The
        # scan is written out (not _content_type()) because it runs for every record
        # of a batch, and a call per record costs as much as the scan itself.
        text = False
        for name, raw in record.headers:
            if name == "content-type":
                text = raw is not None and raw[:5] == b"text/"
        if text:
            return validate_python(value.decode())
        # JSON, or no content type: pydantic-core parses and validates the bytes in one go.
        return validate_json(value)

    return read


def records_reader(annotation: Any) -> RecordsReader | None:
    """The bodies of many records as ``annotation``, by :func:`reader`'s rules.

    None for ``Any`` and ``str``: batch handlers of those read each message
    (their rules look at the content type's text, which is no hot path).
    """
    if annotation is Any or annotation is inspect.Parameter.empty or annotation is str:
        return None
    read = reader(annotation)

    def read_records(records: Sequence[ConsumerRecord[Any, Any]]) -> list[Any]:
        return [read(record) for record in records]

    return read_records


def read_any(record: ConsumerRecord[Any, Any]) -> Any:
    """The body decoded by content type, as the default decoder does."""
    return decode_body(record.value, _content_type_text(record.headers))


def where(msg: KafkaMessage) -> str:
    """The record a message came from, as errors name it."""
    return f"topic={msg.topic} partition={msg.partition} offset={msg.offset}"


def decode_error(msg: KafkaMessage, exc: Exception) -> DecodeError:
    """The poison-message error for input of ``msg`` that raised ``exc``."""
    if isinstance(exc, ValidationError):
        reason = str(exc)
    elif isinstance(exc, UnicodeDecodeError):
        reason = f"the body is not valid UTF-8 text ({exc})"
    else:
        reason = f"the body could not be decoded ({exc})"
    return DecodeError(f"{where(msg)}: the body does not fit the handler's types: {reason}")


def _read_bytes(record: ConsumerRecord[Any, Any]) -> Any:
    value = record.value
    return b"" if value is None else value


def _validators(annotation: Any) -> tuple[Callable[[Any], Any], Callable[[Any], Any]]:
    """``validate_json`` and ``validate_python`` for ``annotation``."""
    adapter: TypeAdapter[Any] = TypeAdapter(annotation)
    core = getattr(adapter, "validator", None)
    if isinstance(core, pydantic_core.SchemaValidator):
        # pydantic-core's own methods: the bytes go straight to the compiled
        # validator, without TypeAdapter's Python wrapper around each call.
        return core.validate_json, core.validate_python
    return adapter.validate_json, adapter.validate_python


def _content_type(headers: Iterable[tuple[str, bytes | None]]) -> bytes | None:
    """The last ``content-type`` header's bytes (as KafkaMessage.raw_header() has it)."""
    found = None
    for name, raw in headers:
        if name == "content-type":
            found = raw
    return found


def _content_type_text(headers: Iterable[tuple[str, bytes | None]]) -> str | None:
    """The ``content-type`` header as text (as KafkaMessage.content_type has it)."""
    raw = _content_type(headers)
    return None if raw is None else raw.decode(errors="replace")
