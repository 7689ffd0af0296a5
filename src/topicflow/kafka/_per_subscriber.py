"""Middlewares specialised for one subscriber, once, at start.

A middleware is made per consumed record with ``(record, context=...)``, and a
record does not say which consumer group read it. A middleware that needs such
facts (the OpenTelemetry middleware names the group on its spans) implements
:class:`PerSubscriber`; when a subscriber folds its pipeline, each such
middleware is swapped for the one its ``for_subscriber(facts)`` returns, so
nothing is looked up per message.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from topicflow.kafka.broker.registrator import Scope

__all__ = ["PerSubscriber", "SubscriberFacts", "for_subscriber"]


@dataclasses.dataclass(frozen=True, slots=True)
class SubscriberFacts:
    """What a subscriber knows of itself, for its middlewares."""

    #: The consumer group (None for a subscriber without one, or with manual partitions).
    group_id: str | None


@runtime_checkable
class PerSubscriber(Protocol):
    """A middleware that wants to know its subscriber (see the module docstring)."""

    def for_subscriber(self, facts: SubscriberFacts) -> Any:
        """The middleware (a ``(msg, *, context)`` callable) to use for this subscriber."""
        ...


def for_subscriber(scope: Scope, group_id: str | None) -> Scope:
    """``scope`` with its :class:`PerSubscriber` middlewares specialised for a
    subscriber of ``group_id`` (``scope`` itself when it has none)."""
    middlewares = scope.middlewares
    if not any(_specialises(m) for m in middlewares):
        return scope
    facts = SubscriberFacts(group_id)
    return dataclasses.replace(
        scope,
        middlewares=tuple(m.for_subscriber(facts) if _specialises(m) else m for m in middlewares),
    )


def _specialises(middleware: Any) -> bool:
    # A middleware class (not an instance) defining the method is not one: it is made per message.
    return not isinstance(middleware, type) and isinstance(middleware, PerSubscriber)
