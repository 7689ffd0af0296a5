"""KafkaMessage: one consumed record, as handlers and middlewares see it."""

from __future__ import annotations

import uuid
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from topicflow._codec import decode_body
from topicflow.ack import Outcome
from topicflow.exceptions import DecodeError
from topicflow.kafka._transport import ConsumerRecord
from topicflow.kafka.topic import topic_name_problem
from topicflow.message import AckStatus, SourceType, StreamMessage

if TYPE_CHECKING:
    import asyncio
    from collections.abc import Callable, Mapping

__all__ = ["KafkaAckableMessage", "KafkaMessage", "KafkaRawMessage"]

_NO_PATH: Mapping[str, str] = MappingProxyType({})
#: Finished outcomes as FastStream's statuses: poison and skipped are committed, like acked.
_STATUS = {
    Outcome.ACK: AckStatus.ACKED,
    Outcome.SKIP: AckStatus.ACKED,
    Outcome.NACK: AckStatus.NACKED,
    Outcome.REJECT: AckStatus.REJECTED,
    Outcome.POISON: AckStatus.REJECTED,
}


class KafkaMessage(StreamMessage["ConsumerRecord[bytes, bytes]"]):
    """A consumed Kafka record with its decoded metadata.

    Use it as a handler parameter (``msg: KafkaMessage``). Header values are
    ``str`` when they are valid UTF-8 and ``bytes`` otherwise. Fields derived
    from headers are computed on first access only.
    """

    #: Marks the class for handler signatures: a parameter annotated with it gets
    #: the message (``topicflow._resolvers.MESSAGE_MARK``).
    __topicflow_message__ = True
    #: A consumed record (FastStream's ``source_type``).
    source_type = SourceType.CONSUME

    __slots__ = (
        "_correlation_id",
        "_headers",
        "_raw_headers",
        "_scratch",
        "path",
        "raw_message",
        "settle",
        "status",
        "unconfirmed",
    )

    def __init__(
        self, record: ConsumerRecord[bytes, bytes], path: Mapping[str, str] = _NO_PATH
    ) -> None:
        #: The Kafka client's record, unchanged.
        self.raw_message = record
        #: Values of the subscriber pattern's ``{name}`` placeholders in this topic.
        self.path = path
        #: None until the message is decided (acked, nacked, rejected, ...).
        self.status: Outcome | None = None
        #: Set by the subscriber when a decision may still come after its pipeline
        #: returned (``AckPolicy.MANUAL``, a publish awaiting its confirmation).
        self.settle: Callable[[Outcome], None] | None = None
        #: While the framework waits for the cluster to confirm what the handler
        #: published for this message: those confirmations (it settles then).
        self.unconfirmed: list[asyncio.Future[Any]] | None = None
        self._headers: dict[str, str | bytes] | None = None
        self._raw_headers: dict[str, bytes] | None = None
        self._correlation_id: str | None = None
        self._scratch: dict[Any, Any] | None = None

    @property
    def scratch(self) -> dict[Any, Any]:
        """Per-message storage for the framework (e.g. a body validated once)."""
        scratch = self._scratch
        if scratch is None:
            scratch = self._scratch = {}
        return scratch

    @property
    def body(self) -> bytes:
        """The record value (``b""`` for a tombstone)."""
        value = self.raw_message.value
        return b"" if value is None else value

    @property
    def key(self) -> bytes | None:
        """The record key."""
        return self.raw_message.key

    @property
    def topic(self) -> str:
        """The topic the record was read from."""
        return self.raw_message.topic

    @property
    def partition(self) -> int:
        """The partition the record was read from."""
        return self.raw_message.partition

    @property
    def offset(self) -> int:
        """The record's offset in its partition."""
        return self.raw_message.offset

    @property
    def timestamp(self) -> int:
        """The record's timestamp, in milliseconds since the epoch."""
        return self.raw_message.timestamp

    @property
    def headers(self) -> dict[str, str | bytes]:
        """The record headers (the last value wins when a name repeats)."""
        headers = self._headers
        if headers is None:
            headers = self._headers = {}
            for name, raw in self.raw_message.headers:
                try:
                    headers[name] = raw.decode()
                except UnicodeDecodeError:
                    headers[name] = raw
        return headers

    def header(self, name: str) -> str | None:
        """A header as text, without decoding the others; None when absent."""
        raw = self.raw_header(name)
        return None if raw is None else raw.decode(errors="replace")

    def raw_header(self, name: str) -> bytes | None:
        """A header's bytes as received (the last value wins); None when absent."""
        raw_headers = self._raw_headers
        if raw_headers is None:
            # One C-level pass builds the lookup for every header the framework reads
            # per message (content-type, reply_to, correlation_id).
            raw_headers = self._raw_headers = dict(self.raw_message.headers)
        return raw_headers.get(name)

    @property
    def content_type(self) -> str | None:
        """The ``content-type`` header."""
        return self.header("content-type")

    @property
    def reply_to(self) -> str:
        """The ``reply_to`` header, or ``""``.

        Raises DecodeError (the message is poison) when it is not a topic name
        Kafka accepts: a reply could never be sent.
        """
        raw = self.raw_header("reply_to")
        if not raw:
            return ""
        try:
            topic = raw.decode()
        except UnicodeDecodeError:
            topic = raw.decode(errors="replace")
        problem = topic_name_problem(topic)
        if problem is not None:
            raise DecodeError(
                f"{self._where()}: its reply_to header cannot be replied to: {problem}"
            )
        return topic

    @property
    def correlation_id(self) -> str:
        """The ``correlation_id`` header; a new id when the record has none.

        Raises DecodeError (the message is poison) when it is not UTF-8 text.
        """
        cid = self._correlation_id
        if cid is None:
            raw = self.raw_header("correlation_id")
            if not raw:
                cid = uuid.uuid4().hex
            else:
                try:
                    cid = raw.decode()
                except UnicodeDecodeError:
                    raise DecodeError(
                        f"{self._where()}: its correlation_id header is not UTF-8 text "
                        f"({raw[:40]!r})"
                    ) from None
            self._correlation_id = cid
        return cid

    def _where(self) -> str:
        record = self.raw_message
        return f"topic={record.topic} partition={record.partition} offset={record.offset}"

    @property
    def message_id(self) -> str:
        """Where the record lives: ``topic-partition-offset``."""
        record = self.raw_message
        return f"{record.topic}-{record.partition}-{record.offset}"

    async def decode(self) -> Any:
        """The body decoded by content type: JSON values, ``str`` for text, else bytes."""
        return decode_body(self.raw_message.value, self.content_type)

    @property
    def decoded_body(self) -> Any:
        """The body decoded as :meth:`decode` does (FastStream 0.5's attribute)."""
        return decode_body(self.raw_message.value, self.content_type)

    @property
    def batch_headers(self) -> list[dict[str, str | bytes]]:
        """Each message's headers, for a batch; empty for one message (as FastStream's)."""
        return []

    @property
    def processed(self) -> bool:
        """True once the message is decided (acked, nacked, rejected, ...)."""
        return self.status is not None and self.status is not Outcome.PENDING

    def clear_cache(self) -> None:
        """Forget what was decoded from the body (FastStream's; nothing to forget here:
        the body cannot change)."""

    async def ack(self) -> None:
        """Finish the message: its offset may be committed. The first decision counts."""
        self.decide(Outcome.ACK)

    async def nack(self) -> None:
        """Hand the message back: it is delivered again, after a backoff."""
        self.decide(Outcome.NACK)

    async def reject(self) -> None:
        """Finish the message as failed: committed, not delivered again."""
        self.decide(Outcome.REJECT)

    @property
    def committed(self) -> AckStatus | None:
        """What was decided for it, as FastStream names it; None while undecided."""
        return _STATUS.get(self.status) if self.status is not None else None

    def decide(self, outcome: Outcome) -> None:
        """Record what becomes of the message; the first decision counts.

        ``Outcome.PENDING`` is no decision: it marks a message whose decision
        comes later (a later call decides it).
        """
        status = self.status
        if status is not None and status is not Outcome.PENDING:
            return
        self.status = outcome
        if outcome is not Outcome.PENDING and self.settle is not None:
            self.settle(outcome)

    def __repr__(self) -> str:
        return f"<KafkaMessage {self.message_id} key={self.key!r} body={self.body[:60]!r}>"


KafkaRawMessage = ConsumerRecord
"""FastStream's name of the Kafka client's record type (``msg.raw_message``)."""

KafkaAckableMessage = KafkaMessage
"""FastStream's name of the message whose ``ack()`` commits: every topicflow message."""
