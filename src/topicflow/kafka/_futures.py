"""Futures of published records: one for a batch sent in parts, and the one a caller of
``publish(no_confirm=True)`` holds.

A transport's ``send()`` returns the client's own future of the cluster's
confirmation; topicflow awaits it through ``Transport.confirm()``, which
translates its failure. A future handed to the caller instead is
:func:`detached`: it fails with what ``Transport.failure()`` makes of the
client's error, so user code never meets a client type.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from topicflow.kafka._seam import Transport

__all__ = ["detached", "first_of"]

#: The callbacks below read no context variable: one empty context saves a copy each.
_NO_CONTEXT = contextvars.Context()


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


def detached(transport: Transport, topic: str, future: asyncio.Future[Any]) -> asyncio.Future[Any]:
    """A future that resolves as ``future`` does, failing with the transport's
    translation of its error. Cancelling it leaves ``future`` (the record) alone."""
    outer: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    future.add_done_callback(
        functools.partial(_pass_on, transport, topic, outer), context=_NO_CONTEXT
    )
    return outer


def _pass_on(
    transport: Transport, topic: str, outer: asyncio.Future[Any], inner: asyncio.Future[Any]
) -> None:
    if outer.done():
        return
    if inner.cancelled():
        outer.cancel()
    elif (exc := inner.exception()) is not None:
        outer.set_exception(transport.failure(topic, exc))
    else:
        outer.set_result(inner.result())
