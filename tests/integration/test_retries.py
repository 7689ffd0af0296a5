"""Retries and dead letters on a real Kafka, with a real service process (issue 18):
kill -9 while retries are pending loses nothing; ``topicflow dlq replay`` twice
replays once; ``topicflow dlq show`` prints one line per record."""

from __future__ import annotations

import asyncio
import collections
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.structs import TopicPartition as KafkaTopicPartition

from tests.helpers import committed_offsets, eventually, read_all
from topicflow.kafka import KafkaBroker, Retry, TopicPartition

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(150)]

SERVICE = """
from topicflow import App
from topicflow.kafka import KafkaBroker, KafkaMessage, Retry

broker = KafkaBroker({bootstrap!r})
app = App(broker)
out = open({out!r}, "a", buffering=1)

@broker.subscriber(
    {topic!r}, group_id={group!r}, auto_offset_reset="earliest", auto_commit_interval_ms=200,
    retry=Retry(delays=(3.0, 0.5)), dead_letter={dlq!r},
)
async def handle(n: int, message: KafkaMessage) -> None:
    out.write(f"{{message.topic}} {{n}}\\n")
    raise ValueError(f"cannot bill {{n}}")
"""


def _lines(path: Path) -> list[str]:
    text = path.read_text() if path.exists() else ""
    return text.split("\n")[:-1]  # a line cut by SIGKILL has no newline yet


def _run(tmp_path: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "topicflow", "run", "service:app", "--app-dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def test_kill_9_while_retries_wait_loses_nothing(
    bootstrap: str, topic: str, group: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    total = 30
    dlq = f"{topic}.dlq"
    out = tmp_path / "handled.txt"
    (tmp_path / "service.py").write_text(
        textwrap.dedent(SERVICE).format(
            bootstrap=bootstrap, out=str(out), topic=topic, group=group, dlq=dlq
        )
    )
    async with KafkaBroker(bootstrap) as broker:
        for n in range(total):
            await broker.publish(n, topic)

    service = _run(tmp_path)
    try:

        async def main_committed() -> bool:
            try:
                offsets = await committed_offsets(bootstrap, group)
            except Exception:  # the group is not there before the service joined it
                return False
            return offsets.get(TopicPartition(topic, 0)) == total

        # Every message failed once and its offset is committed; its first retry waits 3 s.
        await eventually(main_committed, timeout=60)
        first = [line for line in _lines(out) if line.startswith(f"{topic} ")]
        assert len(first) == total
        assert not [line for line in _lines(out) if ".retry-" in line]  # none due yet
    finally:
        service.send_signal(signal.SIGKILL)
        service.wait(timeout=30)

    service = _run(tmp_path)
    try:
        records = await read_all(bootstrap, dlq, total, timeout=90)
    finally:
        service.send_signal(signal.SIGTERM)
        assert service.wait(timeout=30) == 0
    dead = collections.Counter(int(r.value) for r in records)
    lost = set(range(total)) - set(dead)
    handled = collections.Counter(line.split()[0].rsplit(".", 1)[-1] for line in _lines(out))
    with capsys.disabled():
        print(
            f"\nkill -9 with {total} retries pending: {len(set(dead))} dead-lettered "
            f"({sum(dead.values())} records), {len(lost)} lost; handled {dict(handled)}"
        )
    assert not lost
    assert all(dict(r.headers)["topicflow-attempts"] == b"3" for r in records), (
        "each went through both retries"
    )


APP = """
from topicflow import App
from topicflow.kafka import KafkaBroker

app = App(KafkaBroker({bootstrap!r}))
"""


def _cli(tmp_path: Path, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "topicflow", "dlq", *args, "app:app", "--app-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


async def test_dlq_show_and_replay_twice_replays_once(
    bootstrap: str, topic: str, group: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dlq, target = f"{topic}.dlq", f"{topic}.fixed"
    broker = KafkaBroker(bootstrap, logger=None)

    @broker.subscriber(
        topic, group_id=group, auto_offset_reset="earliest", retry=Retry(delays=(0.2,)),
        dead_letter=dlq,
    )  # fmt: skip
    async def refuse(n: int) -> None:
        raise LookupError(f"no customer {n}")

    async with broker:
        await broker.start()
        for n in range(3):
            await broker.publish(n, topic, key=f"k{n}", headers={"tenant": "acme"})
        await read_all(bootstrap, dlq, 3, timeout=30)

    (tmp_path / "app.py").write_text(textwrap.dedent(APP).format(bootstrap=bootstrap))
    shown = await asyncio.to_thread(_cli, tmp_path, "show", "--topic", dlq, "--idle", "1.5")
    replay = ("replay", "--topic", dlq, "--to", target, "--group", group, "--idle", "1.5")
    first = await asyncio.to_thread(_cli, tmp_path, *replay)
    second = await asyncio.to_thread(_cli, tmp_path, *replay)
    with capsys.disabled():
        print(f"\ndlq show:\n{shown}dlq replay (1st): {first.splitlines()[-1]}; "
              f"(2nd): {second.splitlines()[-1]}")  # fmt: skip

    lines = shown.splitlines()
    assert len(lines) == 3
    assert f"from {topic}[0]@0 attempts=2 LookupError: no customer 0" in lines[0]
    assert first.splitlines()[-1] == "3 replayed"
    assert second.splitlines()[-1] == "0 replayed"
    copies = await read_all(bootstrap, target, 3)
    await asyncio.sleep(1)
    assert len(await read_all(bootstrap, target, 3)) == 3
    assert sorted(r.key for r in copies) == [b"k0", b"k1", b"k2"]
    for record in copies:
        names = [name for name, _ in record.headers]
        assert ("tenant", b"acme") in record.headers
        assert not [name for name in names if name.startswith("topicflow-")]


async def test_a_dead_letter_write_that_fails_loses_nothing(
    bootstrap: str, topic: str, group: str
) -> None:
    """The dead-letter topic refuses the record (too large for it): the message is not
    finished but redelivered, and written once the topic takes it."""
    dlq = f"{topic}.dlq"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(dlq, 1, 1, topic_configs={"max.message.bytes": "200"})])
        broker = KafkaBroker(bootstrap, logger=None)
        handled: list[int] = []

        @broker.subscriber(topic, group_id=group, auto_offset_reset="earliest", dead_letter=dlq)
        async def refuse(body: bytes) -> None:
            handled.append(len(body))
            raise ValueError("refused")

        async with broker:
            await broker.start()
            await broker.publish(b"x" * 500, topic)
            await eventually(lambda: len(handled) >= 3, timeout=30)  # written? no: again
            assert await _end(bootstrap, dlq) == 0
            resource = ConfigResource(ConfigResourceType.TOPIC, dlq, {"max.message.bytes": "10000"})
            await admin.alter_configs([resource])
            (record,) = await read_all(bootstrap, dlq, 1, timeout=30)
        assert record.value == b"x" * 500
        assert sum((await committed_offsets(bootstrap, group)).values()) == 1
    finally:
        await admin.close()


async def _end(bootstrap: str, topic: str) -> int:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        ends = await consumer.end_offsets([KafkaTopicPartition(topic, 0)])
    finally:
        await consumer.stop()
    return int(sum(ends.values()))
