"""Futures of published records: one for a batch sent in parts, and the one a caller of
``publish(no_confirm=True)`` holds.

A transport's ``send()`` returns the client's own future of the cluster's
confirmation; topicflow awaits it through ``Transport.confirm()``, which
translates its failure. A future handed to the caller instead is a
:class:`Confirmation`: it fails with what ``Transport.failure()`` makes of the
client's error, so user code never meets a client type.
"""

from __future__ import annotations

import asyncio
import functools
from typing import TYPE_CHECKING, Any, Self

if TYPE_CHECKING:
    import contextvars
    from collections.abc import Callable, Generator

    from topicflow.kafka._seam import Transport

__all__ = ["Confirmation", "first_of"]


def first_of(futures: list[asyncio.Future[Any]]) -> asyncio.Future[Any]:
    """One future: done when all are, with the first one's result."""
    if len(futures) == 1:
        return futures[0]
    first: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

    def all_done(gathered: asyncio.Future[list[Any]]) -> None:
        if first.done():
            return
        if gathered.cancelled():
            first.cancel()
        elif (exc := gathered.exception()) is not None:
            first.set_exception(exc)
        else:
            first.set_result(gathered.result()[0])

    asyncio.gather(*futures).add_done_callback(all_done)
    return first


class Confirmation(asyncio.Future[Any]):
    """The future a caller of ``publish(no_confirm=True)`` holds: the client's own,
    seen through a translation of its failure (``Transport.failure()``).

    Everything a caller reads (``await``, ``result()``, ``exception()``,
    ``done()``, callbacks, ``cancel()``, and so ``asyncio.gather``, ``wait``,
    ``wait_for``, ``shield``) is passed to the client's future; its failure
    comes out as a topicflow error. The state of this object itself is never
    used: nothing is copied when the cluster answers. A second future resolved
    by a done callback (scheduled once per record) would be simpler, and cost
    twice as much per fire-and-forget publish (figures: ``benchmarks/README.md``).
    """

    # The C Future's own state stays uninitialised on purpose: a method not passed on
    # here fails loudly ("Future object is not initialized") instead of answering
    # from a state that never changes.
    __slots__ = ("_callbacks_of", "_inner", "_topic", "_transport")

    def __init__(self, transport: Transport, topic: str, inner: asyncio.Future[Any]) -> None:
        self._transport = transport
        self._topic = topic
        self._inner = inner
        self._callbacks_of: list[tuple[Any, Any]] | None = None

    def _failure(self, exc: BaseException) -> BaseException:
        return self._transport.failure(self._topic, exc)

    def __await__(self) -> Generator[Any, None, Any]:
        try:
            return (yield from self._inner.__await__())
        except Exception as exc:
            failure = self._failure(exc)
            if failure is exc:
                raise
            raise failure from exc

    __iter__ = __await__

    def result(self) -> Any:
        try:
            return self._inner.result()
        except Exception as exc:
            failure = self._failure(exc)
            if failure is exc:
                raise
            raise failure from exc

    def exception(self) -> BaseException | None:
        exc = self._inner.exception()
        return None if exc is None else self._failure(exc)

    def done(self) -> bool:
        return self._inner.done()

    def cancelled(self) -> bool:
        return self._inner.cancelled()

    def cancel(self, msg: Any | None = None) -> bool:
        # As with the client's future: the record is sent all the same.
        return self._inner.cancel(msg)

    def get_loop(self) -> asyncio.AbstractEventLoop:
        return self._inner.get_loop()

    def add_done_callback(
        self, fn: Callable[[Self], object], *, context: contextvars.Context | None = None
    ) -> None:
        call = functools.partial(_call_with, fn, self)
        if self._callbacks_of is None:
            self._callbacks_of = []
        self._callbacks_of.append((fn, call))
        self._inner.add_done_callback(call, context=context)

    def remove_done_callback(self, fn: Callable[[Self], object]) -> int:
        removed = 0
        for given, call in list(self._callbacks_of or ()):
            if given == fn:
                removed += self._inner.remove_done_callback(call)
                assert self._callbacks_of is not None
                self._callbacks_of.remove((given, call))
        return removed

    def _make_cancelled_error(self) -> asyncio.CancelledError:  # asyncio.gather asks for it
        return self._inner._make_cancelled_error()  # type: ignore[attr-defined, no-any-return]

    def set_result(self, result: Any) -> None:
        raise asyncio.InvalidStateError("the cluster's answer settles the future of a publish")

    def set_exception(self, exception: type[BaseException] | BaseException) -> None:
        raise asyncio.InvalidStateError("the cluster's answer settles the future of a publish")

    def __repr__(self) -> str:
        return f"<Confirmation of a record for {self._topic!r}: {self._inner!r}>"


def _call_with(fn: Callable[[Any], object], future: Confirmation, _: asyncio.Future[Any]) -> None:
    fn(future)
