"""What ``@broker.subscriber(...)`` returns: the handler, wrapped but still itself.

A :class:`HandlerCallWrapper` calls the decorated function unchanged (no
validation, no injection: ``await handle(body)`` in a unit test is a plain call),
and is the object a test holds on to. Under a test broker it gets ``mock``,
``wait_call`` and the ``assert_*`` methods from the test broker itself; at run
time it carries nothing else, and the consume path never touches it (the
subscriber compiled the function, not the wrapper).
"""

from __future__ import annotations

import contextlib
import functools
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar

from topicflow.exceptions import SetupError

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["TEST_ATTRIBUTES", "HandlerCallWrapper", "registered_wrapper", "wrapper_of"]

P = ParamSpec("P")
R = TypeVar("R")

#: What a test broker gives a wrapper while it is entered (and removes on exit).
TEST_ATTRIBUTES = frozenset(
    {"mock", "wait_call", "assert_called_once_with", "assert_called_with", "assert_any_call"}
)
#: The attribute of a handler function naming its wrapper (found by test tools).
_WRAPPER_ATTR = "__topicflow_call_wrapper__"


class HandlerCallWrapper(Generic[P, R]):
    """A subscriber's handler as its decorator returns it: callable as the function.

    Stacked decorators (two subscribers, a publisher) share one wrapper. Under
    ``TestKafkaBroker`` it also has ``mock`` (a ``unittest.mock.MagicMock``
    called with the decoded body of each message the handler was given),
    ``await wait_call(timeout)`` and ``await assert_called_once_with(...)``
    (and ``assert_called_with``, ``assert_any_call``); elsewhere those raise
    ``SetupError``.
    """

    def __init__(self, func: Callable[P, R]) -> None:
        functools.update_wrapper(self, func, updated=())
        #: The decorated function, unchanged.
        self.__wrapped__ = func

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        return self.__wrapped__(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        # Only reached for attributes that are not set: a test broker sets these.
        if name in TEST_ATTRIBUTES:
            raise SetupError(
                f"{self!r}.{name} exists only under a test broker: use it inside "
                "'async with TestKafkaBroker(broker):'"
            )
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __repr__(self) -> str:
        return f"<handler {getattr(self.__wrapped__, '__qualname__', self.__wrapped__)!r}>"


def wrapper_of(func: Any) -> HandlerCallWrapper[..., Any]:
    """The wrapper of ``func`` (made on first use; a wrapper is its own)."""
    if isinstance(func, HandlerCallWrapper):
        return func
    wrapper: HandlerCallWrapper[..., Any] | None = getattr(func, _WRAPPER_ATTR, None)
    if wrapper is None:
        wrapper = HandlerCallWrapper(func)
        # A bound method takes no attributes: its wrapper is then not found by test
        # tools, whose subscriber-level mock still records its calls.
        with contextlib.suppress(AttributeError):
            setattr(func, _WRAPPER_ATTR, wrapper)
    return wrapper


def registered_wrapper(func: Any) -> HandlerCallWrapper[..., Any] | None:
    """The wrapper a decorator returned for ``func``, if any."""
    wrapper: HandlerCallWrapper[..., Any] | None = getattr(func, _WRAPPER_ATTR, None)
    return wrapper
