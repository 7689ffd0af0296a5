"""Response: a handler's return value with publishing details attached.

Also FastStream's names of what a publish becomes: ``PublishCommand`` (and
``BatchPublishCommand``, the same class: every Kafka command can carry a batch,
as FastStream's Kafka command is a batch command too), ``PublishType``, and
``ensure_response``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from topicflow._command import PublishCommand, PublishType

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["BatchPublishCommand", "PublishCommand", "PublishType", "Response", "ensure_response"]


BatchPublishCommand = PublishCommand


class Response:
    """Return this from a handler to choose the headers and correlation id of what its
    publishers (and a reply) send.

    Args:
        body: what is published.
        headers: added to the publisher's headers.
        correlation_id: defaults to the consumed message's.
    """

    def __init__(
        self,
        body: Any,
        *,
        headers: Mapping[str, str | bytes] | None = None,
        correlation_id: str | None = None,
    ) -> None:
        self.body = body
        self.headers = dict(headers or {})
        self.correlation_id = correlation_id

    def options(self) -> dict[str, Any]:
        """Keyword arguments for ``publish()``, beyond the body."""
        return {"headers": self.headers, "correlation_id": self.correlation_id}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.body!r})"


def ensure_response(response: Any) -> Response:
    """``response`` itself when it is a :class:`Response`, else ``Response(response)``."""
    return response if isinstance(response, Response) else Response(response)
