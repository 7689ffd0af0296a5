"""What a broker lends its subscribers and publishers: one small frozen :class:`Runtime`.

Subscribers and publishers never hold the broker itself. At resolution each one
gets its :class:`~topicflow.kafka.broker.registrator.Scope`, and the scope's
runtime gives them what they need of the broker: its connection (``transport()``,
``send()``, ``request()``), its context and logger, its timeouts, and the
:class:`Observer` a test tool may have installed.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, Protocol

from topicflow.kafka._publish import send

if TYPE_CHECKING:
    import logging
    from collections.abc import Awaitable, Callable

    from topicflow._context import ContextRepo
    from topicflow._tasks import Backoff, Supervision
    from topicflow.ack import Outcome
    from topicflow.kafka._loop import ConsumerLoop
    from topicflow.kafka._publish import PublishCommand
    from topicflow.kafka._seam import Transport
    from topicflow.kafka._subscriber import Subscriber
    from topicflow.kafka.message import KafkaMessage

    #: A subscriber's whole consume path for one message: what a dispatcher awaits.
    Pipeline = Callable[[Any], Awaitable[Outcome]]

__all__ = ["Observer", "Runtime"]


class Observer(Protocol):
    """Watches a broker's subscribers while they run: the hook of test tools.

    ``TestKafkaBroker`` is one. Install one with ``KafkaBroker.observe()``.
    """

    def transport(self, default: Callable[[], Transport]) -> Transport:
        """The transport the broker connects with; ``default()`` builds its usual one."""

    def pipeline(self, subscriber: Subscriber, consumer: ConsumerLoop, pipeline: Pipeline) -> Any:
        """The pipeline ``consumer`` (one of ``subscriber``'s) hands its messages to:
        ``pipeline`` itself, or a function that calls it and returns its outcome.

        Called when the subscriber starts, before the consumer connects. For a
        batch subscriber the pipeline takes a :class:`~topicflow.kafka.subscriber.Batch`.
        """


@dataclasses.dataclass(frozen=True, slots=True)
class Runtime:
    """The broker's connection, context and settings, as its subscribers and publishers
    use them."""

    #: The connected transport; raises SetupError before ``connect()``.
    transport: Callable[[], Transport]
    #: ``broker.request(...)``: sends the command and waits for the reply.
    request: Callable[[PublishCommand, float], Awaitable[KafkaMessage]]
    #: The installed observer, if any (read when a subscriber starts).
    observer: Callable[[], Observer | None]
    #: Told when a subscriber's background task was given up (the reason, the error).
    failed: Callable[[str, BaseException], None]
    context: ContextRepo
    logger: logging.Logger | None
    log_level: int
    graceful_timeout: float
    nack_backoff: Backoff
    supervision: Supervision
    #: ``KafkaBroker(apply_types=False)``: handlers get the decoded body alone.
    apply_types: bool = True

    async def send(self, cmd: PublishCommand) -> Any:
        """Encode and send ``cmd`` (no middlewares: they wrap this)."""
        return await send(self.transport(), cmd)

    def access_level(self) -> int | None:
        """The level of the per-message access log, or None when it would not show."""
        logger = self.logger
        level = self.log_level
        return level if logger is not None and logger.isEnabledFor(level) else None
