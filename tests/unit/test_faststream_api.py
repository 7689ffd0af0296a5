"""FastStream 0.7.8's Kafka API under topicflow's names: what a ported service sees."""

from __future__ import annotations

from topicflow.kafka import KafkaBroker, KafkaMessage, TestKafkaBroker

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
