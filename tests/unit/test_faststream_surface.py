"""The rest of FastStream 0.7.8's public Kafka names, and what they do under topicflow.

``FASTSTREAM_ALL`` is each module's ``__all__`` in FastStream 0.7.8, read from the
package (``.cache/faststream-venv``); every name must import from the same module
under ``topicflow``.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from typing import Annotated, Any

import pytest

from topicflow import Context, ContextRepo, Depends, Header, SetupError
from topicflow.kafka import KafkaBroker, TestKafkaBroker, Topic
from topicflow.message import SourceType, decode_message, encode_message, gen_cor_id
from topicflow.params import UnderlyingDriverAnnotation
from topicflow.response import BatchPublishCommand, PublishCommand, PublishType, ensure_response

ADDRESS = "in-memory:9092"

FASTSTREAM_ALL = {
    "": [
        "AckPolicy", "AsyncAPI", "BaseMiddleware", "BatchPublishCommand", "Context",
        "ContextRepo", "Depends", "ExceptionMiddleware", "FastStream", "Header", "Logger",
        "NoCast", "Path", "PublishCommand", "PublishType", "Response", "SourceType",
        "StreamMessage", "TestApp", "UnderlyingDriverAnnotation", "apply_types",
    ],
    ".asgi": [
        "AsgiFastStream", "AsgiResponse", "AsyncAPIRoute", "Header", "HttpHandler", "Query",
        "Request", "get", "make_asyncapi_asgi", "make_ping_asgi", "post",
    ],
    ".context": ["Context", "ContextRepo"],
    ".kafka": [
        "ConsumerRecord", "KafkaBroker", "KafkaMessage", "KafkaParserType",
        "KafkaPublishCommand", "KafkaPublishMessage", "KafkaPublisher", "KafkaResponse",
        "KafkaRoute", "KafkaRouter", "RecordMetadata", "TestApp", "TestKafkaBroker", "Topic",
        "TopicPartition",
    ],
    ".kafka.annotations": [
        "Consumer", "ContextRepo", "KafkaBroker", "KafkaMessage", "KafkaProducer", "Logger",
        "NoCast",
    ],
    ".kafka.exceptions": ["BatchBufferOverflowException", "FastStreamException"],
    ".kafka.fastapi": [
        "Context", "ContextRepo", "KafkaBroker", "KafkaMessage", "KafkaProducer", "KafkaRouter",
        "Logger",
    ],
    ".kafka.message": ["KafkaAckableMessage", "KafkaMessage", "KafkaRawMessage"],
    ".kafka.publisher": ["BatchPublisher", "DefaultPublisher"],
    ".kafka.testing": ["TestKafkaBroker"],
    ".kafka.schemas": ["Topic", "TopicPartition"],
    ".kafka.security": [
        "BaseSecurity", "SASLGSSAPI", "SASLOAuthBearer", "SASLPlaintext", "SASLScram256",
        "SASLScram512",
    ],
    ".message": [
        "AckStatus", "SourceType", "StreamMessage", "decode_message", "encode_message",
        "gen_cor_id",
    ],
    ".middlewares": ["AckPolicy", "BaseMiddleware", "ExceptionMiddleware"],
    ".params": ["Context", "Depends", "Header", "NoCast", "Path"],
    ".response": [
        "BatchPublishCommand", "PublishCommand", "PublishType", "Response", "ensure_response",
    ],
    ".specification": ["AsyncAPI"],
    ".types": [
        "AnyCallable", "AsyncFunc", "AsyncFuncAny", "BrokerMiddleware", "DecodedMessage",
        "Filter", "Lifespan", "LoggerProto", "NoneCallable", "PublisherMiddleware",
        "SendableMessage", "SettingField", "SubscriberMiddleware", "WrappedHandlerCall",
    ],
}  # fmt: skip


@pytest.mark.parametrize("module", sorted(FASTSTREAM_ALL))
def test_faststream_public_names_import_from_topicflow(module: str) -> None:
    mod = importlib.import_module(f"topicflow{module}")
    missing = [name for name in FASTSTREAM_ALL[module] if not hasattr(mod, name)]
    assert missing == []


def test_from_topicflow_kafka_import_annotations_gives_the_module() -> None:
    from topicflow.kafka import annotations

    assert annotations.__name__ == "topicflow.kafka.annotations"


def test_publish_command_is_made_as_faststreams_kafka_command() -> None:
    cmd = PublishCommand("a", "b", topic="t", _publish_type=PublishType.PUBLISH, key=b"k")
    assert cmd.batch_bodies == ("a", "b")
    assert cmd.destination == "t"
    assert cmd.publish_type is PublishType.PUBLISH
    assert isinstance(cmd, BatchPublishCommand)
    one = PublishCommand("a", topic="t", headers={"x": "1"})
    assert one.batch_bodies == ("a",)
    one.add_headers({"x": "2", "y": "3"}, override=False)
    assert one.headers == {"x": "1", "y": "3"}
    one.destination = "u"
    assert one.topic == "u"


def test_message_codec_functions() -> None:
    assert encode_message({"a": 1}) == (b'{"a":1}', "application/json")
    assert encode_message(None) == (b"", None)
    assert len(gen_cor_id()) == 32
    assert ensure_response(3).body == 3


async def test_messages_decode_and_say_where_they_come_from() -> None:
    broker = KafkaBroker(ADDRESS)
    got: list[Any] = []

    @broker.subscriber("t")
    async def handle(body: dict[str, int], msg: Any = Context("message")) -> None:
        got.append((decode_message(msg), msg.decoded_body, msg.source_type, msg.batch_headers))

    async with TestKafkaBroker(broker) as br:
        await br.publish({"a": 1}, "t")
    assert got == [({"a": 1}, {"a": 1}, SourceType.CONSUME, [])]


async def test_publish_types_seen_by_a_middleware() -> None:
    from topicflow import BaseMiddleware

    seen: list[tuple[str, PublishType]] = []

    class Watch(BaseMiddleware):
        async def publish_scope(self, call_next: Any, cmd: PublishCommand) -> Any:
            seen.append((cmd.destination, cmd.publish_type))
            return await call_next(cmd)

    broker = KafkaBroker(ADDRESS, middlewares=[Watch])

    @broker.subscriber("rpc")
    async def answer(body: str) -> str:
        return body.upper()

    async with TestKafkaBroker(broker) as br:
        reply = await br.request("hi", "rpc", timeout=5)
        assert await reply.decode() == "HI"
        await br.publish("x", "other")
    kinds = [kind for _, kind in seen]
    assert kinds.count(PublishType.REQUEST) == 1
    assert PublishType.REPLY in kinds
    assert ("other", PublishType.PUBLISH) in seen


async def test_bare_broker_producer_and_consumer_annotations_are_injected() -> None:
    from topicflow.kafka.annotations import Consumer, KafkaProducer

    broker = KafkaBroker(ADDRESS)
    got: dict[str, Any] = {}
    done = asyncio.Event()

    @broker.subscriber("in")
    async def first(
        body: str, br: KafkaBroker, producer: KafkaProducer, consumer: Consumer
    ) -> None:
        got["broker"] = br
        got["consumer"] = consumer
        await producer.publish(PublishCommand(body + "!", topic="out"))

    @broker.subscriber("out")
    async def second(body: str) -> None:
        got["out"] = body
        done.set()

    async with TestKafkaBroker(broker) as br:
        await br.publish("hi", "in")
        await asyncio.wait_for(done.wait(), 5)
    assert got["broker"] is broker
    assert got["out"] == "hi!"
    assert got["consumer"] is not None


async def test_context_initial_header_cast_and_depends_casts() -> None:
    broker = KafkaBroker(ADDRESS)
    got: list[Any] = []

    def raw_header(x: int = Header("x", cast=False)) -> Any:
        return x

    def text_number(x: str = Header("x")) -> int:
        return x  # type: ignore[return-value]  # made an int by cast_result

    @broker.subscriber("t")
    async def handle(
        body: str,
        seen: Annotated[set[str], Context("seen", initial=set)],
        raw: Any = Depends(raw_header),
        number: int = Depends(text_number, cast_result=True),
    ) -> None:
        seen.add(body)
        got.append((sorted(seen), raw, number))

    async with TestKafkaBroker(broker) as br:
        await br.publish("a", "t", headers={"x": "5"})
        await br.publish("b", "t", headers={"x": "6"})
    assert got == [(["a"], "5", 5), (["a", "b"], "6", 6)]
    assert broker.context.get("seen") == {"a", "b"}


def test_context_repo_locals_and_globals() -> None:
    repo = ContextRepo()
    repo.set_global("a", 1)
    assert repo.context == {"context": repo, "a": 1}
    token = repo.set_local("b", 2)
    assert repo.get_local("b") == 2
    assert repo.get("b") == 2
    repo.reset_local("b", token)
    assert repo.get_local("b", "none") == "none"
    with repo.scopes([("c", 3), ("d", 4)]):
        assert (repo.get("c"), repo.get("d")) == (3, 4)
    assert repo.resolve("a") == 1
    with pytest.raises(KeyError, match="'zz'"):
        repo.resolve("zz")
    repo.clear()
    assert repo.get("a") is None


async def test_id_generator_makes_the_correlation_ids() -> None:
    ids = iter(f"id-{n}" for n in range(100))
    broker = KafkaBroker(ADDRESS, id_generator=lambda: next(ids))
    got: list[str] = []

    @broker.subscriber("t")
    async def handle(body: str, cid: str = Context("message.correlation_id")) -> None:
        got.append(cid)

    try:
        async with TestKafkaBroker(broker) as br:
            await br.publish("a", "t")
            await br.publish("b", "t", correlation_id="mine")
        assert got == ["id-0", "mine"]
    finally:
        from topicflow.kafka._publish import set_id_generator

        set_id_generator(None)


def test_underlying_driver_annotations_map_a_class_to_a_context_value() -> None:
    class Client:
        pass

    annotation = Annotated[Client, Context("client")]
    KafkaBroker(
        ADDRESS,
        underlying_driver_annotations={
            Client: UnderlyingDriverAnnotation(type_hint=annotation, module="m", name="C")
        },
    )
    from topicflow._resolvers import param_arg

    arg = param_arg("client", Client, None)
    assert arg is not None  # not a body field


async def test_a_mapped_class_is_injected_in_a_handler() -> None:
    class Client:
        pass

    client = Client()
    broker = KafkaBroker(
        ADDRESS,
        underlying_driver_annotations={
            Client: UnderlyingDriverAnnotation(
                type_hint=Annotated[Client, Context("client")], module="m", name="C"
            )
        },
    )
    broker.context.set_global("client", client)
    got: list[Any] = []

    @broker.subscriber("t")
    async def handle(body: str, c: Client) -> None:
        got.append(c)

    async with TestKafkaBroker(broker) as br:
        await br.publish("a", "t")
    assert got == [client]


@pytest.mark.parametrize(
    ("options", "names"),
    [
        ({"codec": object()}, "decoder="),
        ({"serializer": object()}, "pydantic only"),
        ({"provider": object()}, "provider="),
    ],
)
def test_fast_depends_hooks_are_refused_with_the_way_instead(
    options: dict[str, Any], names: str
) -> None:
    with pytest.raises(SetupError, match=names):
        KafkaBroker(ADDRESS, **options)


def test_a_subscriber_codec_is_refused() -> None:
    broker = KafkaBroker(ADDRESS)
    with pytest.raises(SetupError, match="decoder="):
        broker.subscriber("t", codec=object())  # type: ignore[typeddict-item]


def test_app_context_values_reach_the_brokers() -> None:
    from topicflow import App

    repo = ContextRepo()
    repo.set_global("db", "postgres://")
    broker = KafkaBroker(ADDRESS)
    App(broker, context=repo, logger=logging.getLogger("quiet"))
    assert broker.context.get("db") == "postgres://"


def test_a_batch_publisher_is_a_batch_publisher() -> None:
    from topicflow.kafka.publisher import BatchPublisher, DefaultPublisher

    broker = KafkaBroker(ADDRESS)
    assert isinstance(broker.publisher("t", batch=True), BatchPublisher)
    one = broker.publisher("u")
    assert isinstance(one, DefaultPublisher)
    assert not isinstance(one, BatchPublisher)


async def test_a_topic_with_declare_false_is_not_created() -> None:
    broker = KafkaBroker(ADDRESS)
    got: list[tuple[str, int]] = []

    @broker.subscriber(Topic("made", num_partitions=3), auto_offset_reset="earliest")
    @broker.subscriber(Topic("elsewhere", num_partitions=3, declare=False))
    async def handle(body: str, msg: Any = Context("message")) -> None:
        got.append((msg.topic, msg.partition))

    async with TestKafkaBroker(broker) as br:
        await br.publish("a", "made", partition=2)  # declared with 3 partitions
        with pytest.raises(Exception, match="partition"):  # made by the cluster: 1 partition
            await br.publish("b", "elsewhere", partition=2)
    assert got == [("made", 2)]


async def test_stop_consume_stops_the_subscriber_after_finishing_its_message() -> None:
    from topicflow.exceptions import StopConsume

    broker = KafkaBroker(ADDRESS)
    seen: list[str] = []
    sub = broker.subscriber("t", group_id="g")

    @sub
    async def handle(body: str) -> None:
        seen.append(body)
        if body == "stop":
            raise StopConsume

    tester = TestKafkaBroker(broker)
    async with tester as br:
        with pytest.raises(StopConsume):  # as FastStream's test client: out of publish()
            await br.publish("stop", "t")
        for _ in range(100):
            if not sub.running:
                break
            await asyncio.sleep(0.01)
        assert not sub.running
        await br.publish("after", "t")
        await asyncio.sleep(0.1)
        assert seen == ["stop"]  # nothing handled after it
        assert tester.committed_offsets("g") == {("t", 0): 1}  # the stop message counts as done
        assert await broker.ping(1)  # a subscriber stopped on purpose is not a failure
        assert (await broker.ready(1)).ready, (await broker.ready(1)).problems


async def test_stop_application_in_a_handler_stops_the_app() -> None:
    from topicflow import App
    from topicflow.exceptions import StopApplication

    broker = KafkaBroker(ADDRESS)
    app = App(broker, logger=None)

    @broker.subscriber("t")
    async def handle(body: str) -> None:
        raise StopApplication

    async with TestKafkaBroker(broker) as br:
        running = asyncio.create_task(app.run())
        await asyncio.sleep(0.05)
        with pytest.raises(StopApplication):
            await br.publish("bye", "t")
        await asyncio.wait_for(running, 10)  # run() returned: the app stopped
