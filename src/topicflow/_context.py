"""The context behind ``Context(...)`` parameters and middlewares' ``context``."""

from __future__ import annotations

import contextlib
import contextvars
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterator

    from topicflow.kafka.message import KafkaMessage

__all__ = ["ContextRepo"]

_MISSING: Any = object()
#: Values set by :meth:`ContextRepo.scope`, for the task (and what it awaits) only.
_SCOPED: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "topicflow_context_scope", default=None
)


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

    def get(self, name: str, default: Any = None, *, message: KafkaMessage | None = None) -> Any:
        """The value of a (dotted) name, or ``default``."""
        value = self.resolve(name, message)
        return default if value is _MISSING else value

    def resolve(self, name: str, message: KafkaMessage | None) -> Any:
        """The value of a (dotted) name, or the private ``_MISSING`` marker."""
        head, _, rest = name.partition(".")
        scoped = _SCOPED.get()
        if scoped is not None and head in scoped:
            value = scoped[head]
        else:
            value = message if head == "message" else self._globals.get(head, _MISSING)
        if value is None and head == "message":
            return _MISSING
        for part in rest.split(".") if rest else ():
            if value is _MISSING:
                break
            if isinstance(value, dict):
                value = value.get(part, _MISSING)
            else:
                value = getattr(value, part, _MISSING)
        return value


MISSING = _MISSING
