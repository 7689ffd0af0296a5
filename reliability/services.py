"""The topicflow services the scenarios run, as module sources.

Each is formatted with its bootstrap servers, topic, group and settings, written
to a scenario's folder and run with ``topicflow run``. Consumers append
``"<id> <unix time>"`` to ``$FAULTS_OUT`` after handling each message.
"""

from __future__ import annotations

#: What a handler does per message before it writes its line.
SLEEP_1MS = "    await asyncio.sleep(0.001)"
#: 1 ms of CPU without an await: the "hot handler" of scenario 6.
BUSY_1MS = """\
    end = time.perf_counter() + 0.001
    while time.perf_counter() < end:
        pass"""

CONSUMER = """\
import asyncio
import os
import time

from topicflow import App
from topicflow.kafka import KafkaBroker

broker = KafkaBroker({bootstrap!r}, graceful_timeout=10)
app = App(broker)
out = open(os.environ["FAULTS_OUT"], "a", buffering=1)


@broker.subscriber(
    {topic!r},
    group_id={group!r},
    auto_offset_reset="earliest",
    auto_commit_interval_ms={interval_ms},
    session_timeout_ms={session_ms},
    heartbeat_interval_ms={heartbeat_ms},
)
async def handle(n: int) -> None:
{work}
    out.write(f"{{n}} {{time.time():.6f}}\\n")
"""

POISON_CONSUMER = """\
import os
import time

from pydantic import BaseModel
from topicflow import App
from topicflow.kafka import KafkaBroker

broker = KafkaBroker({bootstrap!r}, graceful_timeout=10)
app = App(broker)
out = open(os.environ["FAULTS_OUT"], "a", buffering=1)


class Item(BaseModel):
    id: int


@broker.subscriber(
    {topic!r},
    group_id={group!r},
    auto_offset_reset="earliest",
    session_timeout_ms={session_ms},
    heartbeat_interval_ms={heartbeat_ms},
)
async def handle(item: Item) -> None:
    out.write(f"{{item.id}} {{time.time():.6f}}\\n")
"""

#: Publishes ids 0..total-1 at ``rate`` per second with the broker's default
#: settings, and writes down each id whose publish the cluster confirmed.
PUBLISHER = """\
import asyncio
import functools
import os
import time

from topicflow import App
from topicflow.kafka import KafkaBroker

broker = KafkaBroker({bootstrap!r})
app = App(broker)
acked = open(os.environ["FAULTS_OUT"], "a", buffering=1)
failed = open(os.environ["FAULTS_OUT"] + ".failed", "a", buffering=1)
running = set()


def confirmed(n, future):
    if future.cancelled():
        failed.write(f"{{n}} cancelled\\n")
    elif future.exception() is not None:
        failed.write(f"{{n}} {{future.exception()!r}}\\n")
    else:
        acked.write(f"{{n}} {{time.time():.6f}}\\n")


async def publish_all(total, rate):
    futures = []
    began = time.monotonic()
    sent = 0
    while sent < total:
        due = min(total, int((time.monotonic() - began) * rate) + 1)
        for n in range(sent, due):
            try:
                future = await broker.publish(n, {topic!r}, no_confirm=True)
            except Exception as exc:  # a publish refused at once counts as not confirmed
                failed.write(f"{{n}} {{exc!r}}\\n")
                continue
            future.add_done_callback(functools.partial(confirmed, n))
            futures.append(future)
        sent = due
        await asyncio.sleep(0.005)
    await asyncio.gather(*futures, return_exceptions=True)
    with open(os.environ["FAULTS_OUT"] + ".done", "w") as done:
        done.write(f"{{sent}}\\n")


@app.after_startup
async def begin():
    running.add(asyncio.create_task(publish_all({total}, {rate})))
"""

#: Scenario 7: every id ending in 0 always fails (retried twice, then dead-lettered),
#: every id ending in 5 fails once (its first retry succeeds). Handlings on the main
#: topic go to $FAULTS_OUT, those on a retry topic to $FAULTS_OUT.retries.
RETRY_CONSUMER = """\
import os
import time

from topicflow import App
from topicflow.kafka import KafkaBroker, KafkaMessage, Retry

broker = KafkaBroker({bootstrap!r}, graceful_timeout=10)
app = App(broker)
out = open(os.environ["FAULTS_OUT"], "a", buffering=1)
retries = open(os.environ["FAULTS_OUT"] + ".retries", "a", buffering=1)


@broker.subscriber(
    {topic!r},
    group_id={group!r},
    auto_offset_reset="earliest",
    auto_commit_interval_ms=500,
    session_timeout_ms={session_ms},
    heartbeat_interval_ms={heartbeat_ms},
    retry=Retry(delays={delays!r}),
    dead_letter={dlq!r},
)
async def handle(n: int, msg: KafkaMessage) -> None:
    first = msg.topic == {topic!r}
    (out if first else retries).write(f"{{n}} {{time.time():.6f}}\\n")
    if n % 10 == 0:
        raise ValueError(f"{{n}} always fails")
    if n % 10 == 5 and first:
        raise ValueError(f"{{n}} fails once")
"""
