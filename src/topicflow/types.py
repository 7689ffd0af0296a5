"""Type aliases for annotating code around topicflow (FastStream's ``faststream.types``).

They describe what topicflow accepts; none is needed to use it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol, TypeAlias

from pydantic import BaseModel

from topicflow.middlewares import BaseMiddleware

__all__ = [
    "AnyCallable",
    "AsyncFunc",
    "AsyncFuncAny",
    "BrokerMiddleware",
    "DecodedMessage",
    "Filter",
    "Lifespan",
    "LoggerProto",
    "NoneCallable",
    "PublisherMiddleware",
    "SendableMessage",
    "SettingField",
    "SubscriberMiddleware",
    "WrappedHandlerCall",
]

AnyCallable: TypeAlias = Callable[..., Any]
NoneCallable: TypeAlias = Callable[..., None]
AsyncFunc: TypeAlias = Callable[..., Awaitable[Any]]
AsyncFuncAny: TypeAlias = Callable[[Any], Awaitable[Any]]

#: What the default decoder gives for a body: JSON values, text, or the bytes.
DecodedMessage: TypeAlias = (
    bool | bytes | bytearray | float | int | str | Sequence[Any] | dict[str, Any] | None
)
#: What can be published: bytes, text, a pydantic model, a dataclass, JSON values, None.
SendableMessage: TypeAlias = (
    BaseModel | bool | bytes | float | int | str | Sequence[Any] | Mapping[str, Any] | Any | None
)
#: A setting given by value or nested in a list or mapping.
SettingField: TypeAlias = bool | str | list[bool | str] | list[str] | list[bool]

#: ``filter=`` of a subscriber: sync or async, given the message.
Filter: TypeAlias = Callable[[Any], bool] | Callable[[Any], Awaitable[bool]]
#: ``App(lifespan=...)``: an async context manager factory.
Lifespan: TypeAlias = Callable[..., AbstractAsyncContextManager[None]]
#: The decorated handler as topicflow calls it.
WrappedHandlerCall: TypeAlias = Callable[..., Any]
#: ``middlewares=`` of a broker or router: a class (or factory) made per message.
BrokerMiddleware: TypeAlias = Callable[..., BaseMiddleware]
#: ``middlewares=`` of a subscriber: the same shape as the broker's.
SubscriberMiddleware: TypeAlias = Callable[..., BaseMiddleware]
#: ``middlewares=`` of a publisher: the same shape as the broker's.
PublisherMiddleware: TypeAlias = Callable[..., BaseMiddleware]


class LoggerProto(Protocol):
    """What topicflow calls on a logger: ``log(level, msg, ...)``."""

    def log(self, level: int, msg: Any, /, *args: Any, **kwargs: Any) -> None: ...
