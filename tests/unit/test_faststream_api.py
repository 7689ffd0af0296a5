"""FastStream 0.7.8's Kafka API under topicflow's names: what a ported service sees."""

from __future__ import annotations

import logging
from typing import Annotated

import pytest

import topicflow.context
from topicflow import (
    AckPolicy,
    App,
    Context,
    ContextRepo,
    Depends,
    FastStream,
    Header,
    Logger,
    NoCast,
    SetupError,
)
from topicflow.exceptions import (
    ContextError,
    FastStreamException,
    FeatureNotSupportedException,
    HandlerException,
    IgnoredException,
    IncorrectState,
    SkipMessage,
    StartupValidationError,
    StopApplication,
    StopConsume,
    SubscriberNotFound,
    TopicflowError,
)
from topicflow.kafka import KafkaBroker, KafkaMessage, TestKafkaBroker
from topicflow.params import NoCastMarker

ADDRESS = "in-memory:9092"


async def test_a_catch_all_handler_registered_first_takes_every_message() -> None:
    broker = KafkaBroker(ADDRESS)
    sub = broker.subscriber("t")
    seen: list[str] = []

    @sub
    async def anything(body: str) -> None:
        seen.append(f"any:{body}")

    @sub(filter=lambda msg: msg.headers.get("type") == "x")
    async def only_x(body: str) -> None:
        seen.append(f"x:{body}")

    async with TestKafkaBroker(broker) as br:
        await br.publish("a", "t", headers={"type": "x"})
        await br.publish("b", "t")
    assert seen == ["any:a", "any:b"]


async def test_handlers_are_tried_in_registration_order() -> None:
    broker = KafkaBroker(ADDRESS)
    sub = broker.subscriber("t")
    seen: list[str] = []

    @sub(filter=lambda msg: msg.headers.get("type") == "x")
    async def only_x(msg: KafkaMessage) -> None:
        seen.append("x")

    @sub
    async def rest(msg: KafkaMessage) -> None:
        seen.append("rest")

    async with TestKafkaBroker(broker) as br:
        await br.publish("a", "t", headers={"type": "x"})
        await br.publish("b", "t")
    assert seen == ["x", "rest"]


async def test_logger_annotations_give_the_brokers_logger_not_a_body_field() -> None:
    log = logging.getLogger("svc")
    broker = KafkaBroker(ADDRESS, logger=log)
    got: list[tuple[str, object, object]] = []

    @broker.subscriber("t")
    async def handle(body: str, logger: Logger, plain: logging.Logger) -> None:
        got.append((body, logger, plain))

    async with TestKafkaBroker(broker) as br:
        await br.publish("hi", "t")
    assert got == [("hi", log, log)]


async def test_context_repo_annotation_gives_the_brokers_context() -> None:
    broker = KafkaBroker(ADDRESS)
    broker.context.set_global("answer", 42)
    got: list[object] = []

    @broker.subscriber("t")
    async def handle(body: str, context: ContextRepo) -> None:
        got.append(context.get("answer"))

    async with TestKafkaBroker(broker) as br:
        await br.publish("hi", "t")
    assert got == [42]


async def test_nocast_passes_a_value_as_decoded() -> None:
    broker = KafkaBroker(ADDRESS)
    got: list[object] = []

    @broker.subscriber("t")
    async def handle(n: NoCast[int], tag: Annotated[str, Header(), NoCastMarker()]) -> None:
        got.append((n, tag))

    async with TestKafkaBroker(broker) as br:
        await br.publish("not a number", "t", headers={"tag": "x"})
    assert got == [("not a number", "x")]


def test_faststream_names_import_from_topicflow() -> None:
    assert FastStream is App
    assert topicflow.context.Context is Context
    assert topicflow.context.ContextRepo is type(KafkaBroker().context)


async def test_apply_types_false_hands_the_decoded_body_unvalidated() -> None:
    broker = KafkaBroker(ADDRESS, apply_types=False)
    got: list[object] = []

    @broker.subscriber("t")
    async def handle(body: int) -> None:  # the annotation is not applied
        got.append(body)

    async with TestKafkaBroker(broker) as br:
        await br.publish({"a": 1}, "t")
        await br.publish("text", "t")
    assert got == [{"a": 1}, "text"]


async def test_consumer_only_broker_consumes_and_refuses_to_publish() -> None:
    producer = KafkaBroker(ADDRESS)
    broker = KafkaBroker(ADDRESS, consumer_only=True)
    got: list[str] = []

    @broker.subscriber("t")
    async def handle(body: str) -> None:
        got.append(body)

    async with TestKafkaBroker(broker) as br, TestKafkaBroker(producer) as pub:
        await pub.publish("hi", "t")
        assert got == ["hi"]
        with pytest.raises(SetupError, match="consumer_only=True"):
            await br.publish("x", "t")


def test_every_faststream_kafka_broker_option_is_accepted() -> None:
    broker = KafkaBroker(
        ADDRESS,
        client_rack="rack-1",
        consumer_only=False,
        allow_auto_create_topics=False,
        key_serializer=lambda key: bytes(key),
        value_serializer=lambda value: bytes(value),
        partitioner=lambda key, all_partitions, available: all_partitions[0],
        transaction_timeout_ms=30_000,
        sasl_kerberos_service_name="kafka",
        sasl_kerberos_domain_name=None,
        sasl_oauth_token_provider=None,
        loop=None,
        protocol="kafka",
        protocol_version="auto",
        apply_types=True,
        context=None,
    )
    assert broker.options.consumer == {"client_rack": "rack-1"}
    broker.subscriber("t", client_rack="rack-2")  # a subscriber may set its own


async def test_skip_message_finishes_the_message_without_an_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    broker = KafkaBroker(ADDRESS)
    seen: list[str] = []

    @broker.subscriber("t", group_id="g")
    async def handle(body: str) -> None:
        seen.append(body)
        if body == "skip":
            raise SkipMessage

    async with TestKafkaBroker(broker) as br:
        with pytest.raises(SkipMessage):  # as FastStream's test client: out of publish()
            await br.publish("skip", "t")
        await br.publish("next", "t")
    assert seen == ["skip", "next"]  # finished: not delivered again
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_faststream_exception_names_catch_topicflow_errors() -> None:
    assert FastStreamException is TopicflowError
    assert issubclass(SkipMessage, HandlerException)
    assert issubclass(HandlerException, IgnoredException)
    assert issubclass(StopConsume, IgnoredException)
    assert issubclass(StopApplication, SystemExit)
    assert issubclass(ContextError, KeyError)
    assert issubclass(FeatureNotSupportedException, NotImplementedError)
    for exc in (SubscriberNotFound, IncorrectState, StartupValidationError):
        assert issubclass(exc, TopicflowError)


async def test_kafka_annotations_give_the_message_and_the_broker() -> None:
    import topicflow.kafka.annotations as ka

    broker = KafkaBroker(ADDRESS)
    got: list[object] = []

    @broker.subscriber("t")
    async def handle(body: str, msg: ka.KafkaMessage, br: ka.KafkaBroker) -> None:
        got.append((body, msg.topic, br))

    async with TestKafkaBroker(broker) as br:
        await br.publish("hi", "t")
    assert got == [("hi", "t", broker)]


def test_faststream_kafka_names_import_from_topicflow_kafka() -> None:
    from topicflow.kafka import KafkaPublishCommand, KafkaPublishMessage, KafkaResponse, TestApp
    from topicflow.kafka.exceptions import BatchBufferOverflowException
    from topicflow.kafka.response import KafkaPublishCommand as Command

    assert KafkaPublishMessage is KafkaResponse
    assert KafkaPublishCommand is Command
    assert TestApp is topicflow.TestApp
    assert BatchBufferOverflowException(3).message_position == 3


async def test_a_batch_handler_takes_a_logger_context_and_dependencies_beside_the_list() -> None:
    broker = KafkaBroker()
    broker.context.set_global("tenant", "acme")
    seen: list[tuple[list[int], bool, str, int]] = []

    def size(n: int = 7) -> int:
        return n

    @broker.subscriber("orders", batch=True)
    async def store(
        ns: list[int],
        logger: Logger,
        tenant: str = Context(),
        seven: int = Depends(size),
    ) -> None:
        seen.append((ns, isinstance(logger, logging.Logger), tenant, seven))

    async with TestKafkaBroker(broker) as br:
        await br.publish_batch(1, 2, 3, topic="orders")
        await store.wait_call(timeout=5)
    assert seen == [([1, 2, 3], True, "acme", 7)]


def test_a_batch_handler_parameter_that_needs_a_message_is_refused() -> None:
    broker = KafkaBroker()
    with pytest.raises(SetupError, match="neither the list of bodies nor a Logger"):

        @broker.subscriber("orders", batch=True)
        async def store(ns: list[int], tenant: str = Header()) -> None: ...


async def test_messages_are_stream_messages_and_say_what_was_committed() -> None:
    from topicflow.message import AckStatus, StreamMessage

    broker = KafkaBroker()
    seen: list[KafkaMessage] = []

    @broker.subscriber("t", ack_policy=AckPolicy.MANUAL)
    async def handle(body: str, msg: KafkaMessage) -> None:
        assert msg.committed is None  # nothing decided yet
        await (msg.ack() if body == "ok" else msg.nack() if body == "again" else msg.reject())
        seen.append(msg)

    async with TestKafkaBroker(broker) as br:
        for body in ("ok", "no"):
            await br.publish(body, "t")
    assert all(isinstance(msg, StreamMessage) for msg in seen)
    assert [msg.committed for msg in seen] == [AckStatus.ACKED, AckStatus.REJECTED]


async def test_exception_middleware_handles_errors_by_type_and_may_publish_a_result() -> None:
    from topicflow import ExceptionMiddleware, NackMessage

    handled: list[str] = []
    errors = ExceptionMiddleware(handlers={ValueError: lambda exc: handled.append(str(exc))})

    @errors.add_handler(KeyError, publish=True)
    async def fallback(exc: KeyError) -> str:
        return "fallback"

    broker = KafkaBroker(middlewares=[errors])
    results: list[str] = []
    nacked: list[str] = []

    @broker.subscriber("in")
    @broker.publisher("out")
    async def risky(body: str) -> str:
        if body == "value":
            raise ValueError("no good")
        if body == "key":
            raise KeyError(body)
        if body == "nack" and not nacked:
            nacked.append(body)
            raise NackMessage()  # a decision: not the middleware's
        return body

    @broker.subscriber("out")
    async def out(body: str) -> None:
        results.append(body)

    async with TestKafkaBroker(broker) as br:
        for body in ("value", "key", "nack", "ok"):
            await br.publish(body, "in")
    assert handled == ["no good"]
    assert results == ["fallback", "nack", "ok"]  # the nacked one came again and went through


async def test_context_cast_and_scope() -> None:
    broker = KafkaBroker()
    broker.context.set_global("retries", "3")
    seen: list[object] = []

    @broker.subscriber("t")
    async def handle(body: str, context: ContextRepo, retries: int = Context(cast=True)) -> None:
        with context.scope("user", body):
            seen.append(context.get("user"))
        seen.extend([context.get("user", "nobody"), retries])

    async with TestKafkaBroker(broker) as br:
        await br.publish("ann", "t")
    assert seen == ["ann", "nobody", 3]


async def test_apply_types_casts_and_fills_dependencies() -> None:
    from pydantic import ValidationError

    from topicflow import apply_types

    async def base() -> int:
        return 10

    @apply_types
    async def total(amount: int, extra: int = Depends(base)) -> int:
        return amount + extra

    @apply_types(cast=False)
    def raw(amount: int) -> object:
        return amount

    assert await total("5") == 15
    assert await total(5, extra=1) == 6
    assert raw("5") == "5"
    with pytest.raises(ValidationError):
        await total("five")
