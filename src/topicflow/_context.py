"""The context behind ``Context(...)`` parameters and middlewares' ``context``."""

from __future__ import annotations

import contextlib
import contextvars
from typing import TYPE_CHECKING, Any

from topicflow.exceptions import ContextError

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Mapping

    from topicflow.kafka.message import KafkaMessage

__all__ = ["MISSING", "ContextRepo", "HandlerInfo", "enter_consumer", "walk"]

_MISSING: Any = object()
#: Values set by :meth:`ContextRepo.scope`, for the task (and what it awaits) only.
_SCOPED: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "topicflow_context_scope", default=None
)


class HandlerInfo:
    """``Context("handler_")``: what handles the message; ``.consumer`` is the Kafka
    client's consumer that fetched it (aiokafka's ``AIOKafkaConsumer``; under
    ``TestKafkaBroker``, the in-memory consumer)."""

    __slots__ = ("consumer",)

    def __init__(self, consumer: Any) -> None:
        self.consumer = consumer


def enter_consumer(consumer: Any) -> None:
    """Make ``consumer`` the current task's ``Context("handler_.consumer")``: set once by
    each fetch task (and by a worker when its consumer changes), not per message."""
    driver = getattr(consumer, "driver", consumer)
    _SCOPED.set({**(_SCOPED.get() or {}), "handler_": HandlerInfo(driver)})


class ContextRepo:
    """Named values handlers can ask for with ``Context("name")``.

    ``message`` is the message being handled; ``broker``, ``logger``, ``app``
    and anything set with :meth:`set_global` are shared by every message.
    """

    def __init__(self) -> None:
        self._globals: dict[str, Any] = {"context": self}

    def set_global(self, name: str, value: Any) -> None:
        """Make ``value`` available as ``Context(name)``."""
        self._globals[name] = value

    def reset_global(self, name: str) -> None:
        """Forget ``name``."""
        self._globals.pop(name, None)

    @contextlib.contextmanager
    def scope(self, name: str, value: Any) -> Iterator[None]:
        """``Context(name)`` is ``value`` inside the ``with`` block, for the current
        task only (a context variable): other messages handled meanwhile do not see it."""
        token = _SCOPED.set({**(_SCOPED.get() or {}), name: value})
        try:
            yield
        finally:
            _SCOPED.reset(token)

    @contextlib.contextmanager
    def scopes(self, items: Iterable[tuple[str, Any]]) -> Iterator[None]:
        """:meth:`scope` for several ``(name, value)`` pairs at once."""
        token = _SCOPED.set({**(_SCOPED.get() or {}), **dict(items)})
        try:
            yield
        finally:
            _SCOPED.reset(token)

    def set_local(self, name: str, value: Any) -> contextvars.Token[dict[str, Any] | None]:
        """Set ``name`` for the current task (and what it starts) until
        :meth:`reset_local` with the token returned."""
        return _SCOPED.set({**(_SCOPED.get() or {}), name: value})

    def reset_local(self, name: str, token: contextvars.Token[dict[str, Any] | None]) -> None:
        """Undo the :meth:`set_local` that returned ``token``."""
        _SCOPED.reset(token)

    def get_local(self, name: str, default: Any = None) -> Any:
        """The value set for the current task (:meth:`scope`, :meth:`set_local`), or
        ``default``; globals are not looked at."""
        return (_SCOPED.get() or {}).get(name, default)

    @property
    def context(self) -> dict[str, Any]:
        """The global values, by name (a copy)."""
        return dict(self._globals)

    def clear(self) -> None:
        """Forget every global value (``context`` itself stays)."""
        self._globals = {"context": self}

    def enter_scope(self, values: Mapping[str, Any]) -> contextvars.Token[dict[str, Any] | None]:
        """:meth:`scope` for several names at once, without a ``with`` block: the
        token to give :meth:`exit_scope` (in the same task) when leaving it."""
        scoped = _SCOPED.get()
        return _SCOPED.set({**scoped, **values} if scoped else dict(values))

    def exit_scope(self, token: contextvars.Token[dict[str, Any] | None]) -> None:
        """Leave the scope that :meth:`enter_scope` returned ``token`` for."""
        _SCOPED.reset(token)

    def get(self, name: str, default: Any = None, *, message: KafkaMessage | None = None) -> Any:
        """The value of a (dotted) name, or ``default``."""
        value = self.lookup(name, message)
        return default if value is _MISSING else value

    def resolve(self, name: str, message: KafkaMessage | None = None) -> Any:
        """The value of a (dotted) name; raises :class:`~topicflow.ContextError` (a
        ``KeyError``) when there is none."""
        value = self.lookup(name, message)
        if value is _MISSING:
            raise ContextError(f"nothing is set as {name!r} in the context")
        return value

    def lookup(self, name: str, message: KafkaMessage | None) -> Any:
        """The value of a (dotted) name, or the private ``_MISSING`` marker."""
        head, _, rest = name.partition(".")
        scoped = _SCOPED.get()
        if scoped is not None and head in scoped:
            value = scoped[head]
        else:
            value = message if head == "message" else self._globals.get(head, _MISSING)
        if value is None and head == "message":
            return _MISSING
        return walk(value, rest) if rest else value


MISSING = _MISSING


def walk(value: Any, path: str) -> Any:
    """``value``'s item or attribute at the dotted ``path`` (``"headers.x"``), or
    ``MISSING`` where a step finds nothing."""
    for part in path.split("."):
        if value is _MISSING:
            break
        if isinstance(value, dict):
            value = value.get(part, _MISSING)
        else:
            value = getattr(value, part, _MISSING)
    return value
