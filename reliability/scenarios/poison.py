"""Scenario 5: a stream where every other record is poison.

A topicflow service handles a model ``Item(id: int)`` from a topic with three
partitions. Once it handles a first record on each partition, a writer (its own
process, see :mod:`reliability.poison_writer`) streams records at a steady rate:
half valid, half poison of four kinds in turn (not JSON, failing validation, a
header key that is not UTF-8, ``reply_to: not a topic!``). A service that exits
is started again at once, as a process manager would, until every valid record
is handled or the grace period after the stream ends runs out.

Figures: how many valid records were handled exactly once, and the longest
stall: the longest time a valid record waited between its write (the writer's
clock, just before the send) and its first handling. On a healthy service that
is a few milliseconds; a record never handled counts as waiting until the end.
"""

from __future__ import annotations

import asyncio
import collections
import json
import os
import sys
import time
from pathlib import Path

from reliability.context import HEARTBEAT_MS, SESSION_MS, Context
from reliability.kafkaio import create_topic, put
from reliability.procs import Lines, Service, Services, wait_until
from reliability.report import Row, count, seconds
from reliability.services import POISON_CONSUMER

PARTITIONS = 3
STALL_TARGET = 1.0
READY_TIMEOUT = 60.0
WARM_UP = -1


async def poison_flood(ctx: Context) -> list[Row]:
    scale = ctx.scale
    name = "5. poison flood"
    topic, group, folder = ctx.names("poison")
    records = scale.poison_records
    valid_total = (records + 1) // 2
    await create_topic(ctx.bootstrap, topic, PARTITIONS)
    source = POISON_CONSUMER.format(
        bootstrap=ctx.bootstrap,
        topic=topic,
        group=group,
        session_ms=SESSION_MS,
        heartbeat_ms=HEARTBEAT_MS,
    )
    written = Lines(folder / "written")
    notes: list[str] = []
    exits: list[int] = []
    with Services(folder, "service", source) as services:
        current: list[Service] = [services.start()]

        async def keep_running() -> None:
            """Start the service again whenever it exits, as a process manager would."""
            while True:
                code = current[0].exited
                if code is not None:
                    exits.append(code)
                    current[0] = services.start()
                await asyncio.sleep(0.05)

        keeper = asyncio.create_task(keep_running())
        try:
            await fill_warm_up(ctx.bootstrap, topic)
            # Assigned every partition once it handled the warm-up record of each.
            warm = await wait_until(
                lambda: services.handled().count(WARM_UP) >= PARTITIONS, READY_TIMEOUT
            )
            if not warm:
                notes.append("the service never handled the warm-up records")
            code = await write_stream(ctx, topic, written.path)
            if code != 0:
                notes.append(f"the writer exited with {code}")
            await wait_until(
                lambda: len({i for i in services.handled() if i >= 0}) >= valid_total,
                scale.poison_grace,
            )
        finally:
            keeper.cancel()
            await asyncio.gather(keeper, return_exceptions=True)
        ended = time.time()
        code = await current[0].terminate(30)
        if code not in (0, None):
            exits.append(code)
        first_handled: dict[int, float] = {}
        for run in services.runs:
            for ident, stamp in run.lines.read():
                if ident >= 0 and (ident not in first_handled or stamp < first_handled[ident]):
                    first_handled[ident] = stamp
        counts = collections.Counter(i for i in services.handled() if i >= 0)
    writes = dict(written.read())
    waits = [first_handled.get(ident, ended) - stamp for ident, stamp in writes.items()]
    longest = max(waits, default=0.0)
    never = len(set(writes) - set(first_handled))
    exactly_once = sum(1 for ident in writes if counts.get(ident) == 1)
    twice = sum(1 for ident in writes if counts.get(ident, 0) > 1)
    if exits:
        notes.append(f"the service exited {len(exits)} times (codes {sorted(set(exits))})")
    how = (
        f"{count(records)} records at {scale.poison_rate}/s on {PARTITIONS} partitions, half "
        "poison: not JSON, invalid, header key not UTF-8, reply_to 'not a topic!'"
    )
    return [
        Row(
            name,
            "valid handled exactly once",
            f"{count(exactly_once)} of {count(len(writes))}",
            f"all {count(len(writes))}",
            exactly_once == len(writes) == valid_total,
            "; ".join([f"{how}; {count(never)} never handled, {count(twice)} twice", *notes]),
        ),
        Row(
            name,
            "longest stall",
            ("> " if never else "") + seconds(longest),
            f"<= {seconds(STALL_TARGET)}",
            longest <= STALL_TARGET and never == 0,
            "longest wait of a valid record from its write to its handling",
        ),
    ]


async def fill_warm_up(bootstrap: str, topic: str) -> None:
    """One valid record with the warm-up id on each partition."""
    body = json.dumps({"id": WARM_UP}).encode()
    await put(bootstrap, topic, [(partition, body) for partition in range(PARTITIONS)])


async def write_stream(ctx: Context, topic: str, out: Path) -> int | None:
    """Run the writer process (see reliability.poison_writer) to its end; its exit code."""
    scale = ctx.scale
    writer = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "reliability.poison_writer",
        ctx.bootstrap,
        topic,
        str(scale.poison_records),
        str(scale.poison_rate),
        str(out),
        env={**os.environ, "AIOKAFKA_NO_EXTENSIONS": "1"},
    )
    try:
        async with asyncio.timeout(scale.poison_records / scale.poison_rate + 60):
            return await writer.wait()
    except TimeoutError:
        return None
    finally:
        if writer.returncode is None:
            writer.kill()
            await writer.wait()
