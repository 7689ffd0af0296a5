"""Background tasks, supervised: every one belongs to a :class:`TaskGroup` of its owner.

A subscriber's fetch loops, offset committers and workers, and the broker's
reply listener, run as tasks of a group owned by that subscriber or broker. A
task that ends with an unexpected error is logged with its owner and started
again after a growing delay (:class:`Backoff`), once its owner has put back what
the crash left half done (``recover``). A task that crashes more often than
:class:`Supervision` allows is given up, and the owner is told
(``on_give_up``) so that the service can stop with a reason, instead of living
on without consuming. Stopping a group cancels its tasks and waits for them at
most a given time, reporting what did not end.

:data:`PACE` keeps the consume paths from holding the event loop: they check it
between messages, and it lets the loop run at least every
:data:`YIELD_EVERY` seconds, so that committers and the group's heartbeats get
their turn even while handlers never await.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections import deque
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

__all__ = ["PACE", "YIELD_EVERY", "Backoff", "Pace", "Supervision", "TaskGroup"]

#: The longest a consume path runs messages without letting the event loop run.
YIELD_EVERY = 0.01
#: A handler that holds the event loop this long without awaiting is named in a warning.
BLOCKING_WARNING = 1.0


class Backoff:
    """Growing delays: ``initial * factor**attempt``, capped at ``maximum`` seconds."""

    __slots__ = ("factor", "initial", "maximum")

    def __init__(self, initial: float = 0.1, factor: float = 2.0, maximum: float = 5.0) -> None:
        if initial < 0 or factor < 1 or maximum < initial:
            raise ValueError(
                f"Backoff(initial={initial}, factor={factor}, maximum={maximum}): need "
                "initial >= 0, factor >= 1 and maximum >= initial"
            )
        self.initial = initial
        self.factor = factor
        self.maximum = maximum

    def delay(self, attempt: int) -> float:
        """Seconds to wait before try number ``attempt + 1``."""
        return float(min(self.initial * self.factor**attempt, self.maximum))

    def __repr__(self) -> str:
        return f"Backoff(initial={self.initial}, factor={self.factor}, maximum={self.maximum})"


@dataclasses.dataclass(frozen=True, slots=True)
class Supervision:
    """How often a crashing background task is started again before it is given up.

    Args:
        max_restarts: restarts allowed within ``window`` seconds; the next crash
            gives the task up (and ``topicflow run`` exits with code 1).
        window: seconds over which crashes are counted.
        backoff: delays before each restart, growing with the crashes in the window.
    """

    max_restarts: int = 5
    window: float = 60.0
    backoff: Backoff = dataclasses.field(default_factory=lambda: Backoff(0.1, 2.0, 5.0))

    def __post_init__(self) -> None:
        if self.max_restarts < 0 or self.window <= 0:
            raise ValueError(
                f"Supervision(max_restarts={self.max_restarts}, window={self.window}): "
                "need max_restarts >= 0 and window > 0"
            )


class TaskGroup:
    """The supervised background tasks of one owner.

    Args:
        owner: names the owner in log lines and in the reason given on give-up.
        supervision: the restart rules.
        logger: where crashes are logged (None: nowhere).
        on_give_up: called once, with the reason, when a task is given up.
    """

    def __init__(
        self,
        owner: str,
        supervision: Supervision,
        logger: logging.Logger | None,
        on_give_up: Callable[[str, BaseException], None] | None = None,
    ) -> None:
        self.owner = owner
        self._supervision = supervision
        self._logger = logger
        self._on_give_up = on_give_up
        self._tasks: dict[asyncio.Task[None], str] = {}
        self._restarting = 0
        #: Why the group was given up; None while it is sound.
        self.failure: str | None = None

    @property
    def healthy(self) -> bool:
        """False while a task waits to be restarted, and once one was given up."""
        return self.failure is None and self._restarting == 0

    def spawn(
        self,
        name: str,
        run: Callable[[], Awaitable[None]],
        *,
        recover: Callable[[], Awaitable[None] | None] | None = None,
    ) -> asyncio.Task[None]:
        """Run ``run()`` as a task of the group; start it again when it crashes.

        ``recover()`` runs before each restart, to put back what the crash left
        half done. The task ends when ``run()`` returns.
        """
        task = asyncio.get_running_loop().create_task(
            self._supervise(name, run, recover), name=f"topicflow:{self.owner}:{name}"
        )
        self._tasks[task] = name
        task.add_done_callback(self._forget)
        return task

    def _forget(self, task: asyncio.Task[None]) -> None:
        self._tasks.pop(task, None)

    async def _supervise(
        self,
        name: str,
        run: Callable[[], Awaitable[None]],
        recover: Callable[[], Awaitable[None] | None] | None,
    ) -> None:
        rules = self._supervision
        crashes: deque[float] = deque()
        while True:
            try:
                await run()
                return
            except Exception as exc:
                now = time.monotonic()
                crashes.append(now)
                while crashes and crashes[0] < now - rules.window:
                    crashes.popleft()
                if len(crashes) > rules.max_restarts:
                    self._give_up(name, exc, len(crashes))
                    return
                delay = rules.backoff.delay(len(crashes) - 1)
                self._log(
                    logging.ERROR,
                    "%s: %s task crashed (%d of %d restarts within %.0fs); restarting it "
                    "in %.1fs: %r",
                    self.owner,
                    name,
                    len(crashes),
                    rules.max_restarts,
                    rules.window,
                    delay,
                    exc,
                    exc_info=exc,
                )
            self._restarting += 1
            try:
                await asyncio.sleep(delay)
                if recover is not None:
                    recovered = recover()
                    if recovered is not None:
                        await recovered
            finally:
                self._restarting -= 1

    def _give_up(self, name: str, exc: BaseException, crashes: int) -> None:
        window = self._supervision.window
        reason = (
            f"{self.owner}: its {name} task crashed {crashes} times within {window:.0f}s "
            f"and was given up; last error: {type(exc).__name__}: {exc}"
        )
        self.failure = reason
        self._log(logging.CRITICAL, "%s", reason, exc_info=exc)
        if self._on_give_up is not None:
            self._on_give_up(reason, exc)

    async def stop(self, timeout: float) -> list[str]:
        """Cancel every task and wait up to ``timeout`` seconds for them to end.

        Returns the names of the tasks that had not ended by then (abandoned). A task
        of the group that calls it (one stopping its owner) is neither cancelled nor
        waited for.
        """
        current = asyncio.current_task()
        tasks = {task: name for task, name in self._tasks.items() if task is not current}
        for task in tasks:
            task.cancel()
        if not tasks:
            return []
        _, late = await asyncio.wait(tasks, timeout=timeout)
        return sorted(tasks[task] for task in late)

    def _log(self, level: int, text: str, *args: object, exc_info: BaseException | None) -> None:
        if self._logger is not None:
            self._logger.log(level, text, *args, exc_info=exc_info)


class Pace:
    """When the consume paths let the event loop run, and who held it too long.

    aiokafka hands out prefetched records without suspending, so a handler
    that never awaits (CPU work, blocking calls in an ``async def``) would
    otherwise keep every other task waiting: the offset committer, the
    group's heartbeats, the other subscribers. After each message (and each
    fetched batch) a consume path checks ``monotonic() >= PACE.due`` (one clock
    read) and, when it is due, awaits :meth:`breathe`, which yields once.

    ``breathe`` also tells a handler that blocks the loop from one that merely
    takes time: it leaves a timer behind, which runs only if the loop got a
    turn meanwhile. Found still waiting more than :data:`BLOCKING_WARNING`
    seconds later, nothing but the code that just ran can have held the
    loop, and its owner is named, once, in a warning.
    """

    __slots__ = ("_last", "_marked", "_timer", "_warned", "due")

    def __init__(self) -> None:
        #: ``time.monotonic()`` at which the next check yields.
        self.due = 0.0
        self._last = time.monotonic()
        self._marked = True
        self._timer: asyncio.TimerHandle | None = None
        self._warned: set[str] = set()

    async def breathe(self, owner: str, logger: logging.Logger | None) -> None:
        """Yield to the event loop once; warn (once per owner) if ``owner``'s code just
        held it for longer than :data:`BLOCKING_WARNING` seconds."""
        now = time.monotonic()
        held = now - self._last
        if not self._marked and held > BLOCKING_WARNING and owner not in self._warned:
            self._warned.add(owner)
            if logger is not None:
                logger.warning(
                    "handler %s held the event loop for %.1fs without awaiting, which "
                    "stalls commits, heartbeats and every other subscriber. Run blocking "
                    "or CPU-bound work off the loop: 'await asyncio.to_thread(work, ...)' "
                    "in an async def handler, or write the handler as a plain def, which "
                    "topicflow runs in a worker thread.",
                    owner,
                    held,
                )
        timer = self._timer
        if timer is not None:
            timer.cancel()
        self._marked = False
        self._timer = asyncio.get_running_loop().call_later(YIELD_EVERY, self._mark)
        await asyncio.sleep(0)
        self._last = time.monotonic()
        self.due = self._last + YIELD_EVERY

    def _mark(self) -> None:
        self._marked = True
        self._timer = None


#: The one pace of the process: there is one event loop to share.
PACE = Pace()
