"""Middlewares: code around every consumed message and every publish.

A middleware is a class; the framework makes one instance per consumed message
(``BaseMiddleware(record, context=...)``) and one per publish
(``BaseMiddleware(None, context=...)``). For a message, the hooks run as::

    on_receive()                      (async with: __aenter__)
      consume_scope(call_next, msg)     -> on_consume, handler, after_consume
        publish_scope(...)              for what the handler publishes
    after_processed(exc_type, exc, tb) (async with: __aexit__; True suppresses exc)

Middlewares listed first are outermost: the broker's wrap the routers', which
wrap the innermost router's.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any

from topicflow.ack import AckPolicy

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence
    from types import TracebackType

    from topicflow._context import ContextRepo
    from topicflow.kafka.message import KafkaMessage
    from topicflow.kafka.publisher import PublishCommand

__all__ = ["AckPolicy", "BaseMiddleware", "ExceptionMiddleware", "wrap_publish"]


class BaseMiddleware:
    """Subclass and override the hooks you need; each default passes through.

    Args:
        msg: the consumed record (the Kafka client's ``ConsumerRecord``), or None
            for a middleware made around a publish.
        context: the broker's context (``context.get("broker")``, ...).
    """

    def __init__(self, msg: Any | None, *, context: ContextRepo) -> None:
        self.msg = msg
        self.context = context

    async def on_receive(self) -> None:
        """Before the message is parsed."""

    async def after_processed(
        self,
        exc_type: type[BaseException] | None = None,
        exc_val: BaseException | None = None,
        exc_tb: TracebackType | None = None,
    ) -> bool | None:
        """After the message was handled; return True to suppress ``exc_val``."""
        return False

    async def __aenter__(self) -> BaseMiddleware:
        await self.on_receive()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_val: BaseException | None,
        exc_tb: TracebackType | None,
    ) -> bool | None:
        return await self.after_processed(exc_type, exc_val, exc_tb)

    async def on_consume(self, msg: KafkaMessage) -> KafkaMessage:
        """Before the handler; may return a different message."""
        return msg

    async def after_consume(self, err: Exception | None) -> None:
        """After the handler; re-raise ``err`` (the default) or swallow it."""
        if err is not None:
            raise err

    async def consume_scope(
        self, call_next: Callable[[KafkaMessage], Awaitable[Any]], msg: KafkaMessage
    ) -> Any:
        """Around the handler: call ``call_next(msg)`` and return its result."""
        err: Exception | None = None
        result: Any = None
        try:
            result = await call_next(await self.on_consume(msg))
        except Exception as exc:
            err = exc
        await self.after_consume(err)
        return result

    async def on_publish(self, cmd: PublishCommand) -> PublishCommand:
        """Before a record is published; may return a changed command."""
        return cmd

    async def after_publish(self, err: Exception | None) -> None:
        """After a publish; re-raise ``err`` (the default) or swallow it."""
        if err is not None:
            raise err

    async def publish_scope(
        self, call_next: Callable[[PublishCommand], Awaitable[Any]], cmd: PublishCommand
    ) -> Any:
        """Around a publish: call ``call_next(cmd)`` and return its result."""
        err: Exception | None = None
        result: Any = None
        try:
            result = await call_next(await self.on_publish(cmd))
        except Exception as exc:
            err = exc
        await self.after_publish(err)
        return result


def wrap_publish(
    send: Callable[[PublishCommand], Awaitable[Any]],
    middlewares: Sequence[Callable[..., BaseMiddleware]],
    context: ContextRepo,
) -> Callable[[PublishCommand], Awaitable[Any]]:
    """``send`` wrapped in each middleware's ``publish_scope`` (the first outermost)."""
    if not middlewares:
        return send

    async def publish(cmd: PublishCommand) -> Any:
        call = send
        for middleware in reversed(middlewares):
            call = _bind(middleware(None, context=context).publish_scope, call)
        return await call(cmd)

    return publish


def _bind(
    scope: Callable[[Callable[[Any], Awaitable[Any]], Any], Awaitable[Any]],
    call_next: Callable[[Any], Awaitable[Any]],
) -> Callable[[Any], Awaitable[Any]]:
    async def call(arg: Any) -> Any:
        return await scope(call_next, arg)

    return call


class ExceptionMiddleware:
    """Handlers by exception type, as FastStream's: an error a handler raises goes to
    the first registered handler of its type (or a base type) instead of the
    acknowledgement policy.

    ``add_handler(ValueError)`` registers a function called with the exception;
    the message then counts as handled, and nothing is published for it. With
    ``publish=True`` the function's return value stands for the handler's: its
    ``@publisher``\\ s publish it. Decisions (``AckMessage``, ``NackMessage``,
    ``RejectMessage``, ``SkipMessage``) and poison messages are never caught.
    List it with the other middlewares: ``KafkaBroker(middlewares=[it])``.

    Args:
        handlers: exception type -> function, as ``add_handler(exc)`` registers.
        publish_handlers: exception type -> function, as ``add_handler(exc, publish=True)``.
    """

    def __init__(
        self,
        handlers: dict[type[Exception], Callable[..., Any]] | None = None,
        publish_handlers: dict[type[Exception], Callable[..., Any]] | None = None,
    ) -> None:
        self._handlers: list[tuple[type[Exception], Callable[..., Any], bool]] = []
        for exc, func in (handlers or {}).items():
            self._handlers.append((exc, func, False))
        for exc, func in (publish_handlers or {}).items():
            self._handlers.append((exc, func, True))

    def add_handler(
        self, exc: type[Exception], publish: bool = False
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorator: ``func(exc)`` (sync or async) handles errors of type ``exc``."""

        def register(func: Callable[..., Any]) -> Callable[..., Any]:
            self._handlers.append((exc, func, publish))
            return func

        return register

    def __call__(self, msg: Any | None, *, context: ContextRepo) -> BaseMiddleware:
        # As a middleware it adds no hooks: the pipeline asks it with ``handle()``.
        return BaseMiddleware(msg, context=context)

    async def handle(self, exc: Exception) -> tuple[bool, Any]:
        """``(True, result)`` when a handler of ``exc``'s type took it (``result`` is
        None unless it was registered with ``publish=True``); else ``(False, None)``."""
        for kind, func, publish in self._handlers:
            if isinstance(exc, kind):
                result = func(exc) if inspect.signature(func).parameters else func()
                if inspect.isawaitable(result):
                    result = await result
                return True, result if publish else None
        return False, None
