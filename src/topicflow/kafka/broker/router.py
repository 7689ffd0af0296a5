"""KafkaRouter: subscribers and publishers declared apart from the broker, included later.

``KafkaRoute`` and ``KafkaPublisher`` declare the same things without decorators.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from topicflow._resolvers import register_driver
from topicflow.kafka.broker.registrator import KafkaRegistrator

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence

    from topicflow.ack import AckPolicy
    from topicflow.params import UnderlyingDriverAnnotation

__all__ = ["KafkaPublisher", "KafkaRoute", "KafkaRouter"]


class KafkaPublisher:
    """A publisher declaration for :class:`KafkaRoute`: ``KafkaPublisher("out", key=...)``.

    Takes the keyword arguments of ``publisher()``.
    """

    def __init__(self, topic: str, **options: Any) -> None:
        self.topic = topic
        self.options = options


class KafkaRoute:
    """A handler declaration: ``KafkaRoute(handle, "orders", group_id="g", publishers=(...))``.

    Takes the keyword arguments of ``subscriber()``; included in a router with
    ``KafkaRouter(handlers=[...])``, it has the effect of the decorators.
    """

    def __init__(
        self,
        call: Callable[..., Any],
        *topics: str,
        publishers: Iterable[KafkaPublisher] = (),
        **options: Any,
    ) -> None:
        self.call = call
        self.topics = topics
        self.publishers = tuple(publishers)
        self.options = options


class KafkaRouter(KafkaRegistrator):
    """Subscribers and publishers under a common prefix and settings.

    Args:
        prefix: put before every topic, pattern and publisher topic beneath.
        handlers: :class:`KafkaRoute` declarations to register now.
        dependencies: run before every handler beneath, after the outer levels'.
        middlewares: wrap every message and publish beneath, inside the outer levels'.
        routers: routers to include (with no extra options).
        parser: maps a ``ConsumerRecord`` to a message, unless a subscriber sets one.
        decoder: maps a message to a Python object, unless a subscriber sets one.
        include_in_schema: False hides everything beneath from AsyncAPI.
        ack_policy: the default for subscribers beneath that set none.
        underlying_driver_annotations: as the broker's (process-wide).
    """

    def __init__(
        self,
        prefix: str = "",
        handlers: Iterable[KafkaRoute] = (),
        *,
        dependencies: Iterable[Any] = (),
        middlewares: Sequence[Any] = (),
        routers: Iterable[KafkaRegistrator] = (),
        parser: Callable[..., Any] | None = None,
        decoder: Callable[..., Any] | None = None,
        include_in_schema: bool | None = None,
        ack_policy: AckPolicy | None = None,
        underlying_driver_annotations: Mapping[type, UnderlyingDriverAnnotation] | None = None,
    ) -> None:
        for cls, annotation in (underlying_driver_annotations or {}).items():
            register_driver(cls, annotation.type_hint)
        super().__init__(
            prefix=prefix,
            dependencies=dependencies,
            middlewares=middlewares,
            routers=routers,
            parser=parser,
            decoder=decoder,
            include_in_schema=include_in_schema,
            ack_policy=ack_policy,
        )
        for route in handlers:
            sub = self.subscriber(*route.topics, **route.options)
            for declared in route.publishers:
                self.publisher(declared.topic, **declared.options)(route.call)
            sub(route.call)

    def __repr__(self) -> str:
        return f"<KafkaRouter prefix={self.prefix!r}>"
