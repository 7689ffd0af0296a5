"""The context behind ``Context(...)`` parameters and middlewares' ``context``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from topicflow.kafka.message import KafkaMessage

__all__ = ["ContextRepo"]

_MISSING: Any = object()


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

    def get(self, name: str, default: Any = None, *, message: KafkaMessage | None = None) -> Any:
        """The value of a (dotted) name, or ``default``."""
        value = self.resolve(name, message)
        return default if value is _MISSING else value

    def resolve(self, name: str, message: KafkaMessage | None) -> Any:
        """The value of a (dotted) name, or the private ``_MISSING`` marker."""
        head, _, rest = name.partition(".")
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
