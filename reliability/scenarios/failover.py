"""Scenario 4: the partition leader's broker is killed while a service publishes.

A three-broker cluster, a topic with one partition, replication factor 3 and
``min.insync.replicas=2``. A topicflow service (its own process under
``topicflow run``, ``KafkaBroker`` with its default settings) publishes ids at a
steady rate and writes down each id whose publish the cluster confirmed. A
third of the way in, the suite looks up the partition's leader in the cluster
metadata and SIGKILLs that broker's process; once a new leader took over and
confirmations come again, it starts the broker again. Then it reads the topic
and counts the records of each id: an id confirmed but absent is lost; an id
present twice was written twice (the producer retried a write that had landed).
"""

from __future__ import annotations

import asyncio
import time

from aiokafka.errors import KafkaError

from reliability.context import Context
from reliability.kafkaio import admin, count_ids, create_topic, leaders
from reliability.procs import Services, wait_until
from reliability.report import Row, count, seconds
from reliability.services import PUBLISHER

FAILOVER_TIMEOUT = 60.0


async def failover(ctx: Context) -> list[Row]:
    cluster = ctx.triple
    if cluster is None:
        raise RuntimeError("scenario 4 needs the three-broker cluster")
    scale = ctx.scale
    name = "4. leader failover"
    topic, _, folder = ctx.names("failover")
    total = scale.failover_messages
    bootstrap = cluster.bootstrap
    await create_topic(bootstrap, topic, 1, replication=3, config={"min.insync.replicas": "2"})
    source = PUBLISHER.format(
        bootstrap=bootstrap, topic=topic, total=total, rate=scale.failover_rate
    )
    notes: list[str] = []
    with Services(folder, "publisher", source) as services:
        publisher = services.start()
        acked = publisher.lines
        done = publisher.out.with_name(publisher.out.name + ".done")
        failed = publisher.out.with_name(publisher.out.name + ".failed")

        def confirmed() -> int:
            return len(acked.read())

        if not await wait_until(lambda: confirmed() >= total // 3, FAILOVER_TIMEOUT):
            notes.append(f"only {count(confirmed())} confirmed before the kill")
        async with admin(bootstrap) as client:
            leader = (await leaders(client, topic))[0]
            cluster.kill(leader)
            killed = time.monotonic()
            at_kill = confirmed()

            async def moved() -> bool:
                try:
                    async with asyncio.timeout(1):  # not a request's timeout: one poll
                        now = (await leaders(client, topic)).get(0)
                except (KafkaError, TimeoutError):  # e.g. a connection to the killed broker
                    return False
                return now is not None and now != leader

            if await wait_until(moved, FAILOVER_TIMEOUT):
                new_leader = f"{seconds(time.monotonic() - killed)}"
            else:
                new_leader = "none"
                notes.append(f"no new leader within {FAILOVER_TIMEOUT:.0f} s")
        # Confirmations come again from the new leader, then the old one returns.
        resumed = await wait_until(
            lambda: confirmed() >= at_kill + total // 6 or done.exists(), FAILOVER_TIMEOUT
        )
        if not resumed:
            notes.append(f"confirmations stopped at {count(confirmed())}")
        await cluster.aheal()
        if not await wait_until(done.exists, FAILOVER_TIMEOUT * 2):
            notes.append("the publisher did not finish")
        code = await publisher.terminate(30)
        if code != 0:
            notes.append(f"the publisher exited with {code}")
        confirmed_ids = {ident for ident, _ in acked.read()}
        errors = failed.read_text().splitlines() if failed.exists() else []
    on_topic = await count_ids(bootstrap, topic, 1)
    lost = len(confirmed_ids - set(on_topic))
    twice = sum(1 for n in on_topic.values() if n > 1)
    unconfirmed_kept = len(set(on_topic) - confirmed_ids)
    how = (
        f"{count(total)} publishes at {scale.failover_rate}/s, KafkaBroker defaults; killed "
        f"broker {leader} (the leader) at {count(at_kill)} confirmed; new leader after "
        f"{new_leader}; {count(len(confirmed_ids))} confirmed, {count(len(errors))} failed, "
        f"{count(unconfirmed_kept)} written but not confirmed"
    )
    return [
        Row(name, "acknowledged but lost", count(lost), "0", lost == 0, "; ".join([how, *notes])),
        Row(
            name,
            "written twice",
            count(twice),
            "0",
            twice == 0,
            f"ids with more than one record among {count(sum(on_topic.values()))} on the topic",
        ),
    ]
