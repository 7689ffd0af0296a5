"""What a real cluster refuses reaches the user as a topicflow error that names the fix."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable

import pytest
from aiokafka import AIOKafkaConsumer

from tests.helpers import eventually
from topicflow import CommitError, PublishError, SetupError
from topicflow.kafka import KafkaBroker, Topic
from topicflow.kafka._options import ConnectionOptions, ConsumerSpec
from topicflow.kafka._transport import AiokafkaTransport, TopicPartition

pytestmark = pytest.mark.kafka

TWO_MB = b"x" * 2_000_000


async def test_a_record_over_the_topics_max_message_bytes_names_both_settings(
    bootstrap: str, topic: str
) -> None:
    # max_request_size lets the client send it; the topic (1 MiB by default) refuses it.
    async with KafkaBroker(bootstrap, max_request_size=3_000_000) as broker:
        await broker.publish(b"small", topic)
        with pytest.raises(PublishError) as confirmed:
            await broker.publish(TWO_MB, topic)
        future = await broker.publish(TWO_MB, topic, no_confirm=True)
        with pytest.raises(PublishError) as unconfirmed:
            await future
    for refused in (confirmed.value, unconfirmed.value):
        assert "max.message.bytes" in str(refused)
        assert "max_request_size (3000000 bytes)" in str(refused)
        assert "MessageSizeTooLargeError" in str(refused)  # the client's own words too


async def test_a_record_over_max_request_size_is_refused_before_sending(
    bootstrap: str, topic: str
) -> None:
    async with KafkaBroker(bootstrap) as broker:
        with pytest.raises(PublishError, match=r"raise KafkaBroker\(max_request_size=\.\.\.\)"):
            await broker.publish(TWO_MB, topic)


async def test_a_topic_the_cluster_does_not_create_names_the_fix(bootstrap: str) -> None:
    # This cluster creates topics on first use, but not one whose name collides with
    # an existing topic's ('.' and '_' count the same): the client's error is then what
    # it is with auto.create.topics.enable=false, "unknown topic" after request_timeout_ms.
    name = f"tf-{uuid.uuid4().hex[:8]}"
    async with KafkaBroker(bootstrap, request_timeout_ms=2000) as broker:
        await broker.publish(b"x", f"{name}.a")
        with pytest.raises(PublishError) as info:
            await broker.publish(b"x", f"{name}_a")
        with pytest.raises(PublishError, match="is not a Kafka topic name"):
            await broker.publish(b"x", "not a topic!")
    assert "auto.create.topics.enable=false" in str(info.value)
    assert f"Topic('{name}_a', num_partitions=N)" in str(info.value)


async def test_a_partition_that_does_not_exist_is_a_publish_error(
    bootstrap: str, topic: str
) -> None:
    async with KafkaBroker(bootstrap) as broker:
        await broker.publish(b"x", topic)
        with pytest.raises(PublishError, match="no such partition"):
            await broker.publish(b"x", topic, partition=7)


async def test_a_declared_topic_the_cluster_refuses_is_a_setup_error(bootstrap: str) -> None:
    broker = KafkaBroker(bootstrap)
    name = f"tf-{uuid.uuid4().hex[:8]}"

    @broker.subscriber(Topic(name, replication_factor=3))  # one broker: at most 1
    async def handle(body: bytes) -> None: ...

    with pytest.raises(SetupError, match="InvalidReplicationFactorError") as info:
        await broker.start()
    await broker.stop()
    assert "replication_factor at most the number of brokers" in str(info.value)


async def test_a_failed_publish_of_a_handlers_result_is_logged_as_a_publish_error(
    bootstrap: str, topic: str, group: str, caplog: pytest.LogCaptureFixture
) -> None:
    broker = KafkaBroker(bootstrap, max_request_size=3_000_000)
    handled: list[int] = []

    @broker.subscriber(topic, group_id=group, auto_offset_reset="earliest")
    @broker.publisher(f"{topic}-out")
    async def handle(n: int) -> bytes:
        handled.append(n)
        return TWO_MB

    async with broker:
        await broker.start()
        await broker.publish(1, topic)
        await eventually(lambda: "publishing what the handler returned" in caplog.text)
    [line] = [r.getMessage() for r in caplog.records if "handler returned" in r.getMessage()]
    assert "PublishError" in line
    assert "max.message.bytes" in line


async def test_a_commit_after_the_group_moved_on_is_a_commit_error(
    bootstrap: str, topic: str, group: str, create_topic: Callable[[str, int], Awaitable[None]]
) -> None:
    await create_topic(topic, 1)

    class Assignment:
        def __init__(self) -> None:
            self.now: set[TopicPartition] = set()
            self.revoked = False
            #: The assignment that came after the revoke (the client's state has it).
            self.after_revoke: set[TopicPartition] | None = None

        async def on_revoked(self, revoked: set[TopicPartition]) -> None:
            self.revoked |= bool(revoked)
            self.now -= revoked

        async def on_assigned(self, assigned: set[TopicPartition]) -> None:
            self.now |= assigned
            if self.revoked:
                self.after_revoke = set(assigned)

    # Members are ordered by client id: the newcomer ('a-...') takes the one partition.
    transport = AiokafkaTransport(ConnectionOptions(bootstrap, client_id="z-first"))
    await transport.connect()
    assignment = Assignment()
    first = transport.consumer(
        ConsumerSpec((topic,), group, {"heartbeat_interval_ms": 200}), assignment
    )
    await first.start()
    second = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=group, client_id="a-next"
    )
    try:
        async with asyncio.timeout(60):
            while not assignment.now:
                await first.getmany(100, None)
            await second.start()
            while assignment.after_revoke is None or not second.assignment():
                await first.getmany(100, None)
        assert assignment.after_revoke == set()
        with pytest.raises(CommitError) as info:
            await first.commit({TopicPartition(topic, 0): 0})
    finally:
        await second.stop()
        await first.stop()
        await transport.close()
    assert "the new owner starts after the last committed offset" in str(info.value)
    assert f"group {group!r}" in str(info.value)
