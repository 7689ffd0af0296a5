"""Scenarios 1, 3 and 6: one service over a backlog, stopped and started again.

1. kill -9 five times: nothing lost, and what comes again after each kill (the
   "redo") stays within one commit window.
3. SIGTERM five times: a graceful stop commits what it handled, so nothing comes
   again.
6. A hot handler (1 ms of CPU per message, never awaiting): how many commits the
   suite sees while it drains, and the redo of a kill -9 against the window.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import signal
import time
from dataclasses import dataclass, field

from aiokafka.errors import KafkaError

from reliability.context import HEARTBEAT_MS, SESSION_MS, Context
from reliability.kafkaio import Offsets, create_topic, fill
from reliability.procs import Service, Services, wait_until
from reliability.report import Row, count, seconds
from reliability.services import BUSY_1MS, CONSUMER, SLEEP_1MS
from topicflow.ack import COMMIT_EVERY

PARTITIONS = 3
#: Bound of each wait for progress: a hang is a failure, not a stuck suite.
PROGRESS_TIMEOUT = 90.0
#: A graceful stop (graceful_timeout=10 in the services) must end within this.
STOP_TIMEOUT = 30.0


def commit_window(stamps: list[float], interval: float) -> int:
    """The most messages handled within any ``interval`` seconds, at most COMMIT_EVERY.

    The committer commits every ``auto_commit_interval_ms`` or after COMMIT_EVERY
    finished messages, whichever comes first (docs/acknowledgement.md), so that is
    the most a SIGKILL may leave handled but not committed.
    """
    ordered = sorted(stamps)
    best = first = 0
    for last, stamp in enumerate(ordered):
        while stamp - ordered[first] > interval:
            first += 1
        best = max(best, last - first + 1)
    return min(best, COMMIT_EVERY)


@dataclass
class Interruptions:
    """A service run again and again over one backlog; what each run did."""

    services: Services
    total: int
    notes: list[str] = field(default_factory=list)
    codes: list[int | None] = field(default_factory=list)
    stop_seconds: list[float] = field(default_factory=list)
    #: Unix time of each stop's signal.
    stopped_at: list[float] = field(default_factory=list)

    def progress(self, target: int, run: Service) -> bool:
        return self.services.unique() >= target or run.exited is not None

    async def run(self, stops: int, how: signal.Signals) -> None:
        """``stops`` runs each stopped with ``how`` once a further share of the backlog is
        handled, then a last run that finishes it and is stopped gracefully."""
        for k in range(1, stops + 1):
            run = self.services.start()
            target = self.total * k // (stops + 1)
            reached = functools.partial(self.progress, target, run)
            if not await wait_until(reached, PROGRESS_TIMEOUT):
                self.notes.append(f"run {k} did not reach {count(target)} handled ids")
            if run.exited is not None:
                self.notes.append(f"run {k} exited by itself with code {run.exited}")
            began = time.monotonic()
            self.stopped_at.append(time.time())
            if how is signal.SIGKILL:
                code = await run.kill()
            else:
                code = await run.terminate(STOP_TIMEOUT)
            self.stop_seconds.append(time.monotonic() - began)
            self.codes.append(code)
        last = self.services.start()
        if not await wait_until(lambda: self.progress(self.total, last), PROGRESS_TIMEOUT):
            self.notes.append("the last run did not finish the backlog")
        self.codes.append(await last.terminate(STOP_TIMEOUT))

    def lost(self) -> int:
        return len(set(range(self.total)) - set(self.services.handled()))

    def duplicated(self) -> int:
        handled = self.services.handled()
        return len(handled) - len(set(handled))

    def redo(self, k: int) -> int:
        """How many messages the ``k``-th run handled that later runs handled again: what
        its stop left uncommitted. (A partition's redo comes with the first later run
        that fetches it, not always the next one.)"""
        runs = self.services.runs
        later = {ident for run in runs[k:] for ident in run.lines.ids}
        return len(set(runs[k - 1].lines.ids) & later)


def _source(ctx: Context, topic: str, group: str, interval_ms: int, work: str) -> str:
    return CONSUMER.format(
        bootstrap=ctx.bootstrap,
        topic=topic,
        group=group,
        interval_ms=interval_ms,
        session_ms=SESSION_MS,
        heartbeat_ms=HEARTBEAT_MS,
        work=work,
    )


def _redo_row(name: str, runs: Interruptions, kills: int, interval_ms: int) -> Row:
    """The worst redo of ``kills`` SIGKILLs, each against its killed run's commit window."""
    pairs: list[tuple[int, int]] = []  # (redo, window) per kill
    for k in range(1, min(kills, len(runs.services.runs) - 1) + 1):
        killed = runs.services.runs[k - 1]
        window = commit_window([stamp for _, stamp in killed.lines.read()], interval_ms / 1000)
        pairs.append((runs.redo(k), window))
    if len(pairs) < kills:
        return Row(name, "worst redo after a kill -9", f"{len(pairs)} of {kills} kills", "-", False)
    worst = max(range(kills), key=lambda k: pairs[k][0] / max(pairs[k][1], 1))
    redo, window = pairs[worst]
    each = ", ".join(f"{count(r)}/{count(w)}" for r, w in pairs)
    return Row(
        name,
        "worst redo after a kill -9",
        f"{count(redo)} (kill {worst + 1})",
        f"<= {count(window)}, one commit window",
        all(r <= w for r, w in pairs),
        f"window: the most the killed run handled in {interval_ms} ms, at most "
        f"{count(COMMIT_EVERY)}; redo/window per kill: {each}",
    )


async def kill_nine(ctx: Context) -> list[Row]:
    scale = ctx.scale
    name = f"1. kill -9 x{scale.kills}"
    topic, group, folder = ctx.names("kill9")
    total = scale.kill_messages
    await create_topic(ctx.bootstrap, topic, PARTITIONS)
    await fill(ctx.bootstrap, topic, range(total), PARTITIONS)
    source = _source(ctx, topic, group, scale.kill_interval_ms, SLEEP_1MS)
    with Services(folder, "service", source) as services:
        runs = Interruptions(services, total)
        await runs.run(scale.kills, signal.SIGKILL)
    how = f"{count(total)} messages on {PARTITIONS} partitions, auto_commit_interval_ms=" + str(
        scale.kill_interval_ms
    )
    notes = "; ".join(runs.notes)
    return [
        Row(
            name,
            "lost",
            count(runs.lost()),
            "0",
            runs.lost() == 0,
            how + (f"; {notes}" if notes else ""),
        ),
        Row(
            name, "duplicated", count(runs.duplicated()), "-", None, "handled again after the kills"
        ),
        _redo_row(name, runs, scale.kills, scale.kill_interval_ms),
    ]


async def sigterm(ctx: Context) -> list[Row]:
    scale = ctx.scale
    name = f"3. SIGTERM x{scale.terms}"
    topic, group, folder = ctx.names("sigterm")
    total = scale.term_messages
    await create_topic(ctx.bootstrap, topic, PARTITIONS)
    await fill(ctx.bootstrap, topic, range(total), PARTITIONS)
    # The default commit interval (5 s): only the stop's own commit can prevent redos.
    source = _source(ctx, topic, group, 5_000, SLEEP_1MS)
    with Services(folder, "service", source) as services:
        runs = Interruptions(services, total)
        await runs.run(scale.terms, signal.SIGTERM)
    codes = ", ".join("-" if code is None else str(code) for code in runs.codes)
    slowest = max(runs.stop_seconds, default=0.0)
    how = (
        f"{count(total)} messages, auto_commit_interval_ms=5000; exit codes {codes}; "
        f"slowest stop {seconds(slowest)}"
    )
    notes = "; ".join(runs.notes)
    clean = all(code == 0 for code in runs.codes)
    return [
        Row(
            name,
            "lost",
            count(runs.lost()),
            "0",
            runs.lost() == 0,
            how + (f"; {notes}" if notes else ""),
        ),
        Row(
            name,
            "redone",
            count(runs.duplicated()),
            "0",
            runs.duplicated() == 0 and clean,
            "handled again after a graceful stop" + ("" if clean else "; a stop did not exit 0"),
        ),
    ]


async def hot_handler(ctx: Context) -> list[Row]:
    scale = ctx.scale
    name = "6. hot handler"
    topic, group, folder = ctx.names("hot")
    total = scale.hot_messages
    interval = scale.hot_interval_ms / 1000
    await create_topic(ctx.bootstrap, topic, PARTITIONS)
    await fill(ctx.bootstrap, topic, range(total), PARTITIONS)
    source = _source(ctx, topic, group, scale.hot_interval_ms, BUSY_1MS)
    seen: list[tuple[float, int]] = []  # (time, committed total) at each change
    polls = collections.Counter[str]()
    async with Offsets(ctx.bootstrap, topic, PARTITIONS, group) as offsets:

        async def watch() -> None:
            last = -1
            while True:
                try:
                    committed = await offsets.committed_total()
                except (KafkaError, TimeoutError):
                    polls["failed"] += 1
                else:
                    polls["done"] += 1
                    if committed != last:
                        seen.append((time.time(), committed))
                        last = committed
                await asyncio.sleep(0.1)

        watcher = asyncio.create_task(watch())
        try:
            with Services(folder, "service", source) as services:
                runs = Interruptions(services, total)
                await runs.run(1, signal.SIGKILL)
        finally:
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)
    stamps = [stamp for _, stamp in services.runs[0].lines.read()]
    began = min(stamps, default=0.0)
    killed = runs.stopped_at[0] if runs.stopped_at else began
    during = [
        (when, committed) for when, committed in seen if began <= when <= killed and committed > 0
    ]
    drained = killed - began
    expected = int(drained / interval)
    return [
        Row(
            name,
            "lost",
            count(runs.lost()),
            "0",
            runs.lost() == 0,
            f"{count(total)} messages, 1 ms of CPU each, no await; "
            f"auto_commit_interval_ms={scale.hot_interval_ms}",
        ),
        Row(
            name,
            "commits seen during the drain",
            f"{len(during)} in {seconds(drained)}",
            "-",
            None,
            f"from the first message handled to the kill; polled every 100 ms "
            f"({polls['done']} polls in the scenario, {polls['failed']} failed); the "
            f"cadence would give about {expected}",
        ),
        _redo_row(name, runs, 1, scale.hot_interval_ms),
    ]
