"""The future of ``publish(no_confirm=True)`` behaves as an asyncio future, and its
failure is a topicflow error.

Its inner future is settled here as the Kafka client settles it (a record's
metadata, or the client's error); the translation is the real transport's.
"""

from __future__ import annotations

import asyncio

import pytest
from aiokafka.errors import MessageSizeTooLargeError
from aiokafka.structs import RecordMetadata, TopicPartition

from topicflow import PublishError
from topicflow.kafka._futures import Confirmation
from topicflow.kafka._options import ConnectionOptions
from topicflow.kafka._transport import AiokafkaTransport

TRANSPORT = AiokafkaTransport(ConnectionOptions("kafka-1:9092"))
METADATA = RecordMetadata("orders", 0, TopicPartition("orders", 0), 7, 0, 0, 0)


def _pair() -> tuple[asyncio.Future[RecordMetadata], Confirmation]:
    inner: asyncio.Future[RecordMetadata] = asyncio.get_running_loop().create_future()
    return inner, Confirmation(TRANSPORT, "orders", inner)


async def test_it_resolves_with_the_clients_answer() -> None:
    inner, confirmation = _pair()
    assert isinstance(confirmation, asyncio.Future)
    assert not confirmation.done()
    inner.set_result(METADATA)
    assert confirmation.done()
    assert await confirmation is METADATA
    assert confirmation.result() is METADATA
    assert confirmation.exception() is None


async def test_its_failure_is_a_publish_error_caused_by_the_clients() -> None:
    inner, confirmation = _pair()
    inner.set_exception(MessageSizeTooLargeError())
    with pytest.raises(PublishError, match=r"max\.message\.bytes") as info:
        await confirmation
    assert isinstance(info.value.__cause__, MessageSizeTooLargeError)
    with pytest.raises(PublishError):
        confirmation.result()
    assert isinstance(confirmation.exception(), PublishError)


async def test_gather_wait_and_shield_take_it() -> None:
    failed_inner, failed = _pair()
    ok_inner, ok = _pair()
    failed_inner.set_exception(MessageSizeTooLargeError())
    ok_inner.set_result(METADATA)
    results = await asyncio.gather(ok, failed, return_exceptions=True)
    assert results[0] is METADATA
    assert isinstance(results[1], PublishError)
    with pytest.raises(PublishError):
        await asyncio.gather(failed)
    done, pending = await asyncio.wait({ok, failed})
    assert done == {ok, failed}
    assert not pending
    assert await asyncio.shield(ok) is METADATA


async def test_wait_for_cancels_what_is_not_confirmed_in_time() -> None:
    inner, confirmation = _pair()
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(confirmation, 0.01)
    assert inner.cancelled()
    assert confirmation.cancelled()


async def test_done_callbacks_get_the_future_the_caller_holds() -> None:
    inner, confirmation = _pair()
    seen: list[object] = []
    confirmation.add_done_callback(seen.append)
    dropped: list[object] = []
    confirmation.add_done_callback(dropped.append)
    assert confirmation.remove_done_callback(dropped.append) == 1
    inner.set_result(METADATA)
    await asyncio.sleep(0)
    assert seen == [confirmation]
    assert dropped == []


async def test_cancelling_it_cancels_the_wait_not_the_record() -> None:
    inner, confirmation = _pair()
    assert confirmation.cancel()
    assert inner.cancelled()
    with pytest.raises(asyncio.CancelledError):
        await confirmation


async def test_only_the_cluster_settles_it() -> None:
    _, confirmation = _pair()
    with pytest.raises(asyncio.InvalidStateError):
        confirmation.set_result(METADATA)
    with pytest.raises(asyncio.InvalidStateError):
        confirmation.set_exception(RuntimeError())
    assert "orders" in repr(confirmation)
