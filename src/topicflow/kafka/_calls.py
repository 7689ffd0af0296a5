"""The calls a test broker records for a subscriber, a handler or a publisher, and the
assertions tests make about them.

:class:`Calls` keeps, per call, the decoded body (what ``mock`` is called with)
and what else the message carried (:class:`Recorded`), so that
``await handle.assert_called_once_with(body, headers=..., key=...)`` can compare
more than the body. A subscriber's ``wait_call`` takes the calls one by one;
a handler's (:class:`HandlerCalls`, FastStream's rule) waits until the handler
has been called once and raises what its latest call raised.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from topicflow._codec import decode_body, encode_body
from topicflow._context import MISSING
from topicflow.exceptions import WaitTimeout

if TYPE_CHECKING:
    from collections.abc import Mapping
    from unittest.mock import MagicMock

    from topicflow._context import ContextRepo
    from topicflow.kafka.message import KafkaMessage

__all__ = ["Calls", "HandlerCalls", "Recorded"]

#: The default of ``wait_call(timeout)`` on a subscriber, in seconds.
WAIT_CALL_TIMEOUT = 10.0
#: A field an assertion does not compare.
_ANY: Any = MISSING


@dataclass(frozen=True, slots=True)
class Recorded:
    """One recorded call: the body the mock got, and the message's other fields."""

    body: Any
    headers: Mapping[str, str | bytes]
    #: The consumed message (None for what a publisher sent).
    message: KafkaMessage | None = None
    key: bytes | None = None
    partition: int | None = None

    def field(self, name: str) -> Any:
        if name == "correlation_id":
            return self.headers.get("correlation_id")
        if name == "reply_to":
            return self.headers.get("reply_to", "")
        if name == "content_type":
            return self.headers.get("content-type")
        if name == "path":
            return dict(self.message.path) if self.message is not None else {}
        return getattr(self, name)


class Calls:
    """The calls one subscriber, handler or publisher saw: a mock, and the records."""

    def __init__(self, owner: str, context: ContextRepo | None = None) -> None:
        # Imported here so that importing topicflow.kafka does not load unittest.
        from unittest.mock import MagicMock

        self.owner = owner
        self.mock: MagicMock = MagicMock(name=owner)
        self.calls: list[Recorded] = []
        self._context = context
        self._waited = 0
        self._event = asyncio.Event()

    def record(self, recorded: Recorded) -> None:
        self.calls.append(recorded)
        self.mock(recorded.body)
        self._event.set()

    async def wait_call(self, timeout: float = WAIT_CALL_TIMEOUT) -> Any:
        """Wait for the next call not waited for yet; return the body it recorded.

        Calls are counted from entering the test broker: the first ``wait_call``
        returns at once if the first call already happened, the second waits for
        a second call, and so on. Raises ``WaitTimeout`` (a ``TimeoutError``) after
        ``timeout`` seconds.
        """
        await self._wait_for(self._waited + 1, timeout)
        body = self.calls[self._waited].body
        self._waited += 1
        return body

    async def _wait_for(self, count: int, timeout: float | None) -> None:
        try:
            async with asyncio.timeout(timeout):
                while len(self.calls) < count:
                    self._event.clear()
                    await self._event.wait()
        except TimeoutError:
            raise WaitTimeout(
                f"{self.owner} got no call #{count} within {timeout}s "
                f"(calls so far: {len(self.calls)})"
            ) from None

    # -- assertions ----------------------------------------------------------------

    async def assert_called_once_with(self, body: Any = _ANY, /, **fields: Any) -> None:
        """Assert exactly one call, with this body and these fields (``headers=``, a
        subset; ``correlation_id``, ``reply_to``, ``content_type``, ``path``,
        ``key``, ``partition``, exactly; ``context={"message.key": ...}``)."""
        self._called()
        if len(self.calls) != 1:
            raise AssertionError(f"{self.owner} was called {len(self.calls)} times, expected once")
        self._compare(self.calls[0], body, fields, "was called with")

    async def assert_called_with(self, body: Any = _ANY, /, **fields: Any) -> None:
        """Assert that the latest call had this body and these fields."""
        self._called()
        self._compare(self.calls[-1], body, fields, "was last called with")

    async def assert_any_call(self, body: Any = _ANY, /, **fields: Any) -> None:
        """Assert that some call had this body and these fields."""
        self._called()
        reports = [self._differences(call, body, fields) for call in self.calls]
        if all(reports):
            lines = [f"  call {i}: {'; '.join(r)}" for i, r in enumerate(reports, 1)]
            raise AssertionError("\n".join([f"{self.owner} had no call like that:", *lines]))

    def _called(self) -> None:
        if not self.calls:
            raise AssertionError(f"{self.owner} was not called")

    def _compare(self, call: Recorded, body: Any, fields: Mapping[str, Any], verb: str) -> None:
        differences = self._differences(call, body, fields)
        if differences:
            raise AssertionError(f"{self.owner} {verb} other values: {'; '.join(differences)}")

    def _differences(self, call: Recorded, body: Any, fields: Mapping[str, Any]) -> list[str]:
        found: list[str] = []
        if body is not _ANY:
            expected = _as_received(body, batch=isinstance(call.body, list))
            if expected != call.body:
                found.append(f"body: expected {expected!r}, got {call.body!r}")
        for name, expected in fields.items():
            if name == "headers":
                actual: Any = call.headers
                if hasattr(expected, "keys"):
                    actual = {k: call.headers.get(k, _ANY) for k in expected}
                if expected != actual:
                    found.append(f"headers: expected {expected!r}, got {dict(call.headers)!r}")
            elif name == "context":
                for path, value in expected.items():
                    got = self._resolve(path, call)
                    if value != got:
                        found.append(f"context[{path!r}]: expected {value!r}, got {got!r}")
            elif name in ("correlation_id", "reply_to", "content_type", "path", "key", "partition"):
                got = call.field(name)
                if expected != got:
                    found.append(f"{name}: expected {expected!r}, got {got!r}")
            else:
                raise TypeError(f"unknown field {name!r} for an assertion on {self.owner}")
        return found

    def _resolve(self, path: str, call: Recorded) -> Any:
        if self._context is not None:
            value = self._context.get(path, _ANY, message=call.message)
        else:
            value = _ANY
        return None if value is _ANY else value


class HandlerCalls(Calls):
    """A handler's calls (the wrapper ``@subscriber`` returned): its ``wait_call``
    follows FastStream's rule, and knows how the latest call ended."""

    def __init__(self, owner: str, context: ContextRepo | None = None) -> None:
        super().__init__(owner, context)
        self._latest_error: BaseException | None = None

    def ended(self, recorded: Recorded, error: BaseException | None) -> None:
        self._latest_error = error
        self.record(recorded)

    async def wait_call(self, timeout: float | None = None) -> None:
        """Wait until the handler has been called (at once if it was, under this test
        broker); raise what its latest call raised. ``timeout`` in seconds, None for
        no bound; ``WaitTimeout`` (a ``TimeoutError``) when it runs out."""
        await self._wait_for(1, timeout)
        error = self._latest_error
        if error is not None:
            raise error


def _as_received(body: Any, *, batch: bool) -> Any:
    """An expected body as a mock would have recorded it: through the codec."""
    if batch and isinstance(body, (list, tuple)):
        return [_as_received(item, batch=False) for item in body]
    with contextlib.suppress(TypeError, ValueError):
        value, content_type = encode_body(body)
        return decode_body(value, content_type)
    return body  # a matcher (dirty-equals and the like): compared as it is
