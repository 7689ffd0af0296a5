"""Declaring subscribers and publishers: the part shared by brokers and routers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, Unpack, overload

from topicflow.kafka._options import SubscriberConfig
from topicflow.kafka.publisher import DefaultPublisher
from topicflow.kafka.subscriber import (
    BatchSubscriber,
    ConcurrentBetweenPartitionsSubscriber,
    ConcurrentDefaultSubscriber,
    DefaultSubscriber,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

    from topicflow.kafka._options import SubscriberOptions
    from topicflow.kafka.broker.broker import KafkaBroker

__all__ = ["AnySubscriber", "KafkaRegistrator"]

AnySubscriber = (
    DefaultSubscriber
    | BatchSubscriber
    | ConcurrentDefaultSubscriber
    | ConcurrentBetweenPartitionsSubscriber
)


class KafkaRegistrator:
    """``subscriber()`` and ``publisher()``, with the reference's signatures."""

    def __init__(self) -> None:
        self.subscribers: list[AnySubscriber] = []
        self.publishers: list[DefaultPublisher] = []

    def _owner(self) -> KafkaBroker:
        raise NotImplementedError

    @overload
    def subscriber(
        self,
        *topics: str,
        batch: Literal[False] = False,
        group_id: str | None = None,
        max_workers: None = None,
        **options: Unpack[SubscriberOptions],
    ) -> DefaultSubscriber: ...

    @overload
    def subscriber(
        self,
        *topics: str,
        batch: Literal[True],
        group_id: str | None = None,
        max_workers: None = None,
        **options: Unpack[SubscriberOptions],
    ) -> BatchSubscriber: ...

    @overload
    def subscriber(
        self,
        *topics: str,
        batch: Literal[False] = False,
        group_id: None = None,
        max_workers: int,
        **options: Unpack[SubscriberOptions],
    ) -> ConcurrentDefaultSubscriber: ...

    @overload
    def subscriber(
        self,
        *topics: str,
        batch: Literal[False] = False,
        group_id: str,
        max_workers: int,
        **options: Unpack[SubscriberOptions],
    ) -> ConcurrentBetweenPartitionsSubscriber: ...

    @overload
    def subscriber(
        self,
        *topics: str,
        batch: bool = False,
        group_id: str | None = None,
        max_workers: int | None = None,
        **options: Unpack[SubscriberOptions],
    ) -> AnySubscriber: ...

    def subscriber(
        self,
        *topics: str,
        batch: bool = False,
        group_id: str | None = None,
        max_workers: int | None = None,
        **options: Unpack[SubscriberOptions],
    ) -> AnySubscriber:
        """Declare a subscriber; use the result as a decorator on its handler.

        The kind follows from the arguments, as in the reference:
        ``batch=True`` gives a :class:`BatchSubscriber`; ``max_workers=N`` gives a
        :class:`ConcurrentBetweenPartitionsSubscriber` with ``group_id`` and a
        :class:`ConcurrentDefaultSubscriber` without; otherwise a
        :class:`DefaultSubscriber`. Consumer settings go to the Kafka consumer
        unchanged. Misconfiguration raises ``SetupError`` here.
        """
        config = SubscriberConfig.build(
            topics, batch=batch, group_id=group_id, max_workers=max_workers, options=options
        )
        kind: type[AnySubscriber]
        if batch:
            kind = BatchSubscriber
        elif max_workers is None:
            kind = DefaultSubscriber
        elif group_id is None:
            kind = ConcurrentDefaultSubscriber
        else:
            kind = ConcurrentBetweenPartitionsSubscriber
        sub = kind(self._owner(), config)
        self.subscribers.append(sub)
        return sub

    def publisher(
        self,
        topic: str,
        *,
        key: Any = None,
        partition: int | None = None,
        headers: Mapping[str, str | bytes] | None = None,
        reply_to: str = "",
        persistent: bool = True,
        title: str | None = None,
        description: str | None = None,
        schema: Any | None = None,
        include_in_schema: bool = True,
        autoflush: bool = False,
    ) -> DefaultPublisher:
        """Declare a publisher: a decorator for handlers, or an object to publish with."""
        pub = DefaultPublisher(
            self._owner(),
            topic,
            key=key,
            partition=partition,
            headers=headers,
            reply_to=reply_to,
            title=title,
            description=description,
            schema=schema,
            include_in_schema=include_in_schema,
            autoflush=autoflush,
        )
        if persistent:
            self.publishers.append(pub)
        return pub
