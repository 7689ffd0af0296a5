"""Scenario 7: retries wait on retry topics, never on the partition; kill -9 while they wait.

A topicflow service with ``retry=Retry(delays=(1.0, 2.0))`` and ``dead_letter=``
handles ids from a topic with three partitions, streamed at a steady rate: one id
in ten always fails (handled three times, then dead-lettered), one in ten fails
once (its first retry succeeds), the rest succeed. Once every id was handled on
the main topic, while retries still wait, the service is killed with SIGKILL and
started again; it must retry and dead-letter what was pending.

Figures: the failing ids retried (each always-failing id twice, each
fail-once id once, counted by distinct id); the always-failing ids
dead-lettered; lost (an id that never reached its end: handled once on the main
topic for a good id, a successful retry for a fail-once id, a dead-letter record
for an always-failing id); and the main partitions' longest stall while retries
wait: the longest time an id waited between its write (the suite's clock, just
before the send) and its first handling on the main topic, before the kill.
"""

from __future__ import annotations

import collections
import time

from reliability.context import HEARTBEAT_MS, SESSION_MS, Context
from reliability.kafkaio import count_ids, create_topic, put, stream
from reliability.procs import Lines, Services, wait_until
from reliability.report import Row, count, seconds
from reliability.services import RETRY_CONSUMER

PARTITIONS = 3
DELAYS = (1.0, 2.0)
STALL_TARGET = 1.0
READY_TIMEOUT = 60.0
GRACE = 60.0
WARM_UP = -1


async def retries(ctx: Context) -> list[Row]:
    scale = ctx.scale
    name = "7. retries, kill -9 while they wait"
    topic, group, folder = ctx.names("retry")
    dlq = f"{topic}.dlq"
    total = scale.retry_messages
    always = {n for n in range(total) if n % 10 == 0}
    once = {n for n in range(total) if n % 10 == 5}
    await create_topic(ctx.bootstrap, topic, PARTITIONS)
    source = RETRY_CONSUMER.format(
        bootstrap=ctx.bootstrap,
        topic=topic,
        group=group,
        session_ms=SESSION_MS,
        heartbeat_ms=HEARTBEAT_MS,
        delays=DELAYS,
        dlq=dlq,
    )
    notes: list[str] = []
    writes: dict[int, float] = {}
    with Services(folder, "service", source) as services:
        service = services.start()
        retried = [Lines(run.out.with_name(run.out.name + ".retries")) for run in services.runs]
        await put(ctx.bootstrap, topic, [(p, str(WARM_UP).encode()) for p in range(PARTITIONS)])
        if not await wait_until(
            lambda: services.handled().count(WARM_UP) >= PARTITIONS, READY_TIMEOUT
        ):
            notes.append("the service never handled the warm-up records")
        await stream(
            ctx.bootstrap, topic, range(total), PARTITIONS, scale.retry_rate, writes=writes
        )
        await wait_until(lambda: set(range(total)) <= set(services.handled()), 30)
        first_handled: dict[int, float] = {}
        for ident, stamp in service.lines.read():
            first_handled.setdefault(ident, stamp)
        waits = [first_handled.get(n, time.time()) - at for n, at in writes.items()]
        never_first = len(set(writes) - set(first_handled))
        pending = len(always) * len(DELAYS) + len(once) - len(retried[0].ids)
        await service.kill()

        service = services.start()
        retried.append(Lines(service.out.with_name(service.out.name + ".retries")))

        async def done() -> bool:
            ok = {n for lines in retried for n in lines.ids if n in once}
            if ok != once:
                return False
            return set(await count_ids(ctx.bootstrap, dlq, 1)) >= always

        if not await wait_until(done, GRACE):
            notes.append(f"not all done {GRACE:.0f} s after the restart")
        code = await service.terminate(30)
        if code not in (0, None):
            notes.append(f"the restarted service exited with {code}")
        main = collections.Counter(services.handled())
    retry_counts = collections.Counter(n for lines in retried for n in lines.ids)
    dead = await count_ids(ctx.bootstrap, dlq, 1)
    good = set(range(total)) - always - once
    lost = len(good - set(main)) + len(once - set(retry_counts)) + len(always - set(dead))
    retried_ok = sum(1 for n in always if retry_counts[n] >= 2) + sum(
        1 for n in once if retry_counts[n] >= 1
    )
    failing = len(always) + len(once)
    longest = max(waits, default=0.0)
    twice = sum(1 for n in always if dead[n] > 1)
    how = (
        f"{count(total)} ids at {scale.retry_rate}/s on {PARTITIONS} partitions, delays "
        f"{DELAYS}; 1 in 10 always fails, 1 in 10 fails once; SIGKILL with "
        f"{count(max(pending, 0))} retries pending"
    )
    return [
        Row(
            name,
            "messages retried",
            f"{count(retried_ok)} of {count(failing)}",
            f"all {count(failing)}",
            retried_ok == failing,
            "; ".join([how, *notes]),
        ),
        Row(
            name,
            "dead-lettered",
            f"{count(len(always & set(dead)))} of {count(len(always))}",
            f"all {count(len(always))}",
            always <= set(dead),
            f"{count(twice)} written twice (at-least-once across the kill)",
        ),
        Row(name, "lost", count(lost), "0", lost == 0, "ids that never reached their end"),
        Row(
            name,
            "longest main-partition stall",
            ("> " if never_first else "") + seconds(longest),
            f"<= {seconds(STALL_TARGET)}",
            longest <= STALL_TARGET and never_first == 0,
            "longest wait of an id from its write to its first handling, while retries wait",
        ),
    ]
