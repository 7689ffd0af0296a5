"""Scenario 2: a group goes 2 -> 3 -> 2 -> 3 -> 2 members under a steady load.

Two members start; a third joins; one leaves with SIGTERM; a fourth joins; one
is killed with SIGKILL as the load ends. Figures: lost, duplicated (the killed
member's uncommitted messages come again), and the seconds from the SIGKILL
until the group's lag is 0 (its committed offsets reach the end of every
partition), which includes the killed member's session timeout.
"""

from __future__ import annotations

import asyncio
import collections
import time

from reliability.context import HEARTBEAT_MS, SESSION_MS, Context
from reliability.kafkaio import Offsets, create_topic, stream
from reliability.procs import Services, wait_until
from reliability.report import Row, count, seconds
from reliability.services import CONSUMER, SLEEP_1MS

PARTITIONS = 6
INTERVAL_MS = 500
LAG_TIMEOUT = 90.0


async def rebalance(ctx: Context) -> list[Row]:
    scale = ctx.scale
    name = "2. rebalance 2 -> 3 -> 2"
    topic, group, folder = ctx.names("rebalance")
    total = int(scale.rebalance_rate * scale.rebalance_seconds)
    await create_topic(ctx.bootstrap, topic, PARTITIONS)
    source = CONSUMER.format(
        bootstrap=ctx.bootstrap,
        topic=topic,
        group=group,
        interval_ms=INTERVAL_MS,
        session_ms=SESSION_MS,
        heartbeat_ms=HEARTBEAT_MS,
        work=SLEEP_1MS,
    )
    step = scale.rebalance_seconds / 4
    notes: list[str] = []
    with Services(folder, "member", source) as services:
        a, b = services.start(), services.start()
        # A new group reads from the earliest offset: what comes before they join waits.
        sent_all = asyncio.Event()
        load = asyncio.create_task(
            stream(ctx.bootstrap, topic, range(total), PARTITIONS, scale.rebalance_rate, sent_all)
        )
        try:
            await asyncio.sleep(step)
            services.start()  # 3 members
            await asyncio.sleep(step)
            code_a = await a.terminate(30)  # 2
            await asyncio.sleep(step)
            services.start()  # 3
            async with asyncio.timeout(scale.rebalance_seconds * 2):
                await sent_all.wait()
            await b.kill()  # 2, as the last record is sent
            killed = time.monotonic()
            async with asyncio.timeout(60):
                await load
        finally:
            if not load.done():
                load.cancel()
                await asyncio.gather(load, return_exceptions=True)
        async with Offsets(ctx.bootstrap, topic, PARTITIONS, group) as offsets:

            async def caught_up() -> bool:
                return await offsets.lag() == 0

            if await wait_until(caught_up, LAG_TIMEOUT):
                lag_zero = f"{seconds(time.monotonic() - killed)}"
            else:
                lag_zero = f"> {seconds(LAG_TIMEOUT)}"
                notes.append(f"lag {count(await offsets.lag())} after {LAG_TIMEOUT:.0f} s")
        codes = [code_a]
        for run in services.runs[2:]:
            codes.append(await run.terminate(30))
        handled = services.handled()
        per_member = [len(run.lines.ids) for run in services.runs]
    counts = collections.Counter(handled)
    lost = len(set(range(total)) - set(counts))
    duplicated = len(handled) - len(counts)
    if any(code != 0 for code in codes):
        notes.append(f"graceful stops exited with {codes}")
    how = (
        f"{count(total)} messages at {scale.rebalance_rate}/s on {PARTITIONS} partitions; "
        f"a change every {step:.1f} s; handled by a, b, c, d: "
        + ", ".join(count(n) for n in per_member)
    )
    return [
        Row(name, "lost", count(lost), "0", lost == 0, "; ".join([how, *notes])),
        Row(name, "duplicated", count(duplicated), "-", None, "after the SIGKILL"),
        Row(
            name,
            "seconds until lag is 0",
            lag_zero,
            "-",
            None,
            f"from the SIGKILL; session_timeout_ms={SESSION_MS}, "
            f"auto_commit_interval_ms={INTERVAL_MS}",
        ),
    ]
