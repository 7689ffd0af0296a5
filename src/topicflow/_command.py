"""What a publish becomes before it is encoded: :class:`PublishCommand`, and why it is
sent (:class:`PublishType`). Middlewares' ``publish_scope`` sees and may change it.

Apart from the Kafka code that sends it (``topicflow.kafka._publish``), so that
``topicflow`` and ``topicflow.response`` name it without importing the Kafka
package.
"""

from __future__ import annotations

import dataclasses
import enum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from topicflow.kafka._publish import RequestOptions

__all__ = ["HeaderValue", "PublishCommand", "PublishType"]

HeaderValue = str | bytes


class PublishType(enum.StrEnum):
    """Why a command is published: a plain publish, a handler's reply, or a request."""

    PUBLISH = "PUBLISH"
    REPLY = "REPLY"
    REQUEST = "REQUEST"


@dataclasses.dataclass(slots=True, init=False)
class PublishCommand:
    """One publish, before encoding: what middlewares' ``publish_scope`` sees and may
    change. ``batch`` holds the bodies of a batch publish.

    Made as FastStream's ``KafkaPublishCommand`` is too:
    ``PublishCommand(body, *more_bodies, topic=..., _publish_type=...)`` (more bodies
    make a batch; ``timeout`` is that of a request).
    """

    body: Any
    topic: str
    key: Any
    partition: int | None
    timestamp_ms: int | None
    headers: Mapping[str, HeaderValue]
    correlation_id: str | None
    reply_to: str
    no_confirm: bool
    batch: Sequence[Any] | None
    #: A plain publish, a handler's reply, or a request (FastStream's ``publish_type``).
    publish_type: PublishType
    timeout: float

    def __init__(
        self,
        body: Any,
        *bodies: Any,
        topic: str,
        key: Any = None,
        partition: int | None = None,
        timestamp_ms: int | None = None,
        headers: Mapping[str, HeaderValue] | None = None,
        correlation_id: str | None = None,
        reply_to: str = "",
        no_confirm: bool = False,
        batch: Sequence[Any] | None = None,
        publish_type: PublishType = PublishType.PUBLISH,
        _publish_type: PublishType | None = None,
        timeout: float = 0.5,
    ) -> None:
        self.body = body
        self.topic = topic
        self.key = key
        self.partition = partition
        self.timestamp_ms = timestamp_ms
        self.headers = {} if headers is None else headers
        self.correlation_id = correlation_id
        self.reply_to = reply_to
        self.no_confirm = no_confirm
        self.batch = (body, *bodies) if bodies else batch
        self.publish_type = publish_type if _publish_type is None else _publish_type
        self.timeout = timeout

    @property
    def destination(self) -> str:
        """The topic: FastStream's name of :attr:`topic`."""
        return self.topic

    @destination.setter
    def destination(self, topic: str) -> None:
        self.topic = topic

    @property
    def batch_bodies(self) -> tuple[Any, ...]:
        """The bodies it publishes: the batch's, else the one body (none for None)."""
        if self.batch is not None:
            return tuple(self.batch)
        return () if self.body is None else (self.body,)

    def add_headers(self, headers: Mapping[str, HeaderValue], *, override: bool = True) -> None:
        """Add ``headers``; with ``override=False`` the command's own win a clash."""
        if override:
            self.headers = {**self.headers, **headers}
        else:
            self.headers = {**headers, **self.headers}

    @classmethod
    def of(
        cls,
        body: Any,
        topic: str,
        options: RequestOptions,
        *,
        reply_to: str = "",
        no_confirm: bool = False,
        batch: Sequence[Any] | None = None,
        publish_type: PublishType = PublishType.PUBLISH,
    ) -> PublishCommand:
        """The command for ``body`` with the keyword ``options`` of a publish (or of a
        request: ``PublishOptions`` but ``reply_to``, which is given apart)."""
        return cls(
            body=body,
            topic=topic,
            key=options.get("key"),
            partition=options.get("partition"),
            timestamp_ms=options.get("timestamp_ms"),
            headers=options.get("headers") or {},
            correlation_id=options.get("correlation_id"),
            reply_to=reply_to,
            no_confirm=no_confirm,
            batch=batch,
            publish_type=publish_type,
        )
