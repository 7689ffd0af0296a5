"""Declaring subscribers and publishers, and composing routers: shared by brokers and routers.

Declarations only record what was asked for. Settings are resolved when the
broker starts (or documents itself), by walking the tree of included routers
from the broker down: each level yields a :class:`Scope` with the prefix,
middlewares, dependencies, parser, decoder, ack policy and schema visibility in
force there. So the order of ``include_router``, ``add_middleware`` and
decorator calls never changes the result.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, Literal, Unpack, overload

from topicflow.exceptions import SetupError
from topicflow.kafka._options import SubscriberConfig, check_policy
from topicflow.kafka._retry import check_retry
from topicflow.kafka.publisher import BatchPublisher, DefaultPublisher
from topicflow.kafka.subscriber import (
    BatchSubscriber,
    ConcurrentBetweenPartitionsSubscriber,
    ConcurrentDefaultSubscriber,
    DefaultSubscriber,
)
from topicflow.kafka.topic import Topic

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Sequence

    from topicflow.ack import AckPolicy
    from topicflow.kafka._options import PublisherOptions, SubscriberOptions
    from topicflow.kafka._runtime import Runtime
    from topicflow.kafka._subscriber import Subscriber

__all__ = ["AnySubscriber", "KafkaRegistrator", "Resolved", "Scope", "resolve_tree"]

AnySubscriber = (
    DefaultSubscriber
    | BatchSubscriber
    | ConcurrentDefaultSubscriber
    | ConcurrentBetweenPartitionsSubscriber
)


@dataclasses.dataclass(frozen=True, slots=True)
class Scope:
    """The settings in force at one level of the router tree."""

    #: What the broker lends the subscribers and publishers resolved here.
    runtime: Runtime
    owner: KafkaRegistrator
    parent: Scope | None
    prefix: str
    middlewares: tuple[Any, ...]
    dependencies: tuple[Any, ...]
    parser: Callable[..., Any] | None
    decoder: Callable[..., Any] | None
    ack_policy: AckPolicy | None
    include_in_schema: bool

    def enter(self, include: _Include) -> Scope:
        """The scope inside ``include.router``, included here with ``include``'s options."""
        router = include.router
        return Scope(
            runtime=self.runtime,
            owner=router,
            parent=self,
            prefix=self.prefix + include.prefix + router.prefix,
            middlewares=(*self.middlewares, *include.middlewares, *router._middlewares),
            dependencies=(*self.dependencies, *include.dependencies, *router._dependencies),
            parser=router.parser or self.parser,
            decoder=router.decoder or self.decoder,
            ack_policy=router.ack_policy or self.ack_policy,
            include_in_schema=self.include_in_schema
            and include.include_in_schema is not False
            and router.include_in_schema is not False,
        )

    def of(self, owner: KafkaRegistrator) -> Scope | None:
        """The scope of ``owner`` on the way from the broker to this one, if it is there."""
        scope: Scope | None = self
        while scope is not None and scope.owner is not owner:
            scope = scope.parent
        return scope


@dataclasses.dataclass(frozen=True, slots=True)
class _Include:
    router: KafkaRegistrator
    prefix: str = ""
    dependencies: tuple[Any, ...] = ()
    middlewares: tuple[Any, ...] = ()
    include_in_schema: bool | None = None


class KafkaRegistrator:
    """``subscriber()``, ``publisher()`` and router composition, as in the reference."""

    def __init__(
        self,
        *,
        prefix: str = "",
        dependencies: Iterable[Any] = (),
        middlewares: Sequence[Any] = (),
        routers: Iterable[KafkaRegistrator] = (),
        parser: Callable[..., Any] | None = None,
        decoder: Callable[..., Any] | None = None,
        include_in_schema: bool | None = None,
        ack_policy: AckPolicy | None = None,
    ) -> None:
        check_policy(ack_policy)
        self.prefix = prefix
        self.parser = parser
        self.decoder = decoder
        self.include_in_schema = include_in_schema
        self.ack_policy = ack_policy
        self._dependencies: list[Any] = list(dependencies)
        self._middlewares: list[Any] = list(middlewares)
        self._includes: list[_Include] = []
        self.subscribers: list[AnySubscriber] = []
        self.publishers: list[DefaultPublisher] = []
        for router in routers:
            self.include_router(router)

    # -- composition ---------------------------------------------------------

    @property
    def middlewares(self) -> tuple[Any, ...]:
        """This level's own middlewares, outermost first."""
        return tuple(self._middlewares)

    @property
    def dependencies(self) -> tuple[Any, ...]:
        """This level's own dependencies, in the order they run."""
        return tuple(self._dependencies)

    def add_middleware(self, middleware: Any) -> None:
        """Append ``middleware``: the innermost of this level's middlewares."""
        self._middlewares.append(middleware)

    def insert_middleware(self, middleware: Any) -> None:
        """Prepend ``middleware``: the outermost of this level's middlewares."""
        self._middlewares.insert(0, middleware)

    def include_router(
        self,
        router: KafkaRegistrator,
        *,
        prefix: str = "",
        dependencies: Iterable[Any] = (),
        middlewares: Sequence[Any] = (),
        include_in_schema: bool | None = None,
    ) -> None:
        """Include ``router``'s subscribers and publishers, below this level.

        ``prefix`` goes before the router's own prefix; ``dependencies`` and
        ``middlewares`` run before the router's own. Including one router twice
        gives two independent sets of subscribers.
        """
        if router is self:
            raise SetupError("a router cannot include itself")
        if not isinstance(router, KafkaRegistrator) or not router.includable:
            raise SetupError(f"include_router() takes a KafkaRouter, got {router!r}")
        self._includes.append(
            _Include(
                router,
                prefix=prefix,
                dependencies=tuple(dependencies),
                middlewares=tuple(middlewares),
                include_in_schema=include_in_schema,
            )
        )

    #: Whether ``include_router()`` accepts it (a router, not a broker).
    includable = True

    def attach(self, declared: Subscriber | DefaultPublisher) -> None:
        """Resolve a subscriber or publisher declared here after the broker resolved.

        ``sub.start()`` and a publisher's ``publish()`` call it for what was not
        resolved at start. Only a connected broker can; this raises SetupError
        saying what to do instead.
        """
        if isinstance(declared, DefaultPublisher):
            raise SetupError(
                f"publisher {declared.name!r} is not attached to a started broker: include "
                "its router in the broker (broker.include_router(router)) and start the broker"
            )
        raise SetupError(
            f"{declared!r} belongs to a router: include the router in a broker and start "
            "it with the broker"
        )

    def include_routers(self, *routers: KafkaRegistrator) -> None:
        """Include several routers with no extra options."""
        for router in routers:
            self.include_router(router)

    def _walk(self, scope: Scope, seen: tuple[KafkaRegistrator, ...] = ()) -> Iterator[Scope]:
        """This level's scope, then every included level's, depth first."""
        if self in seen:
            raise SetupError(
                f"router inclusion loops back to {self!r}; a router cannot include one "
                "that includes it"
            )
        yield scope
        for include in self._includes:
            yield from include.router._walk(scope.enter(include), (*seen, self))

    # -- declaring -----------------------------------------------------------

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
        check_retry(config)
        kind: type[AnySubscriber]
        if batch:
            kind = BatchSubscriber
        elif max_workers is None:
            kind = DefaultSubscriber
        elif group_id is None:
            kind = ConcurrentDefaultSubscriber
        else:
            kind = ConcurrentBetweenPartitionsSubscriber
        sub = kind(self, config)
        self.subscribers.append(sub)
        return sub

    def publisher(
        self,
        topic: str,
        *,
        batch: bool = False,
        persistent: bool = True,
        **options: Unpack[PublisherOptions],
    ) -> DefaultPublisher:
        """Declare a publisher: a decorator for handlers, or an object to publish with.

        Options: ``key``, ``partition``, ``headers``, ``reply_to``, ``title``,
        ``description``, ``schema``, ``include_in_schema``, ``autoflush``
        (:class:`~topicflow.kafka.publisher.DefaultPublisher`). With ``batch=True``
        (a :class:`~topicflow.kafka.publisher.BatchPublisher`), a handler's list or
        tuple result goes out as one batch.
        """
        pub = (BatchPublisher if batch else DefaultPublisher)(self, topic, batch=batch, **options)
        if persistent:
            self.publishers.append(pub)
        return pub


@dataclasses.dataclass(frozen=True, slots=True)
class Resolved:
    """A router tree resolved: what runs, under its real names."""

    #: The subscribers as they run: one per inclusion of a router.
    subscribers: list[AnySubscriber]
    #: The publishers, bound to the scope they were declared in.
    publishers: list[DefaultPublisher]
    #: The ``Topic`` declarations of both, under their real names.
    topics: list[Topic]


def resolve_tree(root: KafkaRegistrator, scope: Scope) -> Resolved:
    """Bind every subscriber and publisher of ``root`` and the routers it includes."""
    scopes = list(root._walk(scope))
    for level in scopes:  # a new resolution binds the declared publishers afresh
        for publisher in level.owner.publishers:
            publisher.unbind()
    publishers = [
        publisher.bound(level) for level in scopes for publisher in level.owner.publishers
    ]
    seen: set[int] = set()
    subscribers: list[AnySubscriber] = []
    for level in scopes:
        for sub in level.owner.subscribers:
            if id(sub) in seen:
                sub = sub.copy()  # the same router included again
            seen.add(id(sub))
            sub.bind(level)
            subscribers.append(sub)
    declared: dict[str, Topic] = {}
    for sub in subscribers:
        for name in sub.config.topics:
            if isinstance(name, Topic):
                declared.setdefault(sub.prefix + name, name.renamed(sub.prefix + name))
    for level in scopes:
        for publisher in level.owner.publishers:
            if isinstance(publisher.name, Topic):
                real = level.prefix + publisher.name
                declared.setdefault(real, publisher.name.renamed(real))
    kept = [topic for topic in declared.values() if topic.declare]
    return Resolved(subscribers, publishers, kept)
