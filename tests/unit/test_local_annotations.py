"""Handlers annotated with classes defined inside a test function, under
``from __future__ import annotations`` (the usual shape of a FastStream test)."""

from __future__ import annotations

from pydantic import BaseModel

from topicflow import Depends
from topicflow.kafka import KafkaBroker, TestKafkaBroker

ADDRESS = "in-memory:9092"


async def test_a_handler_may_name_a_model_defined_in_the_test() -> None:
    class Order(BaseModel):
        id: int

    broker = KafkaBroker(ADDRESS)
    got: list[object] = []

    @broker.subscriber("orders")
    async def handle(order: Order) -> None:
        got.append(order)

    async with TestKafkaBroker(broker) as br:
        await br.publish({"id": 3}, "orders")
    assert got == [Order(id=3)]


async def test_a_batch_handler_and_a_filtered_handler_name_local_models_too() -> None:
    class Item(BaseModel):
        n: int

    class Tag(BaseModel):
        tag: str

    broker = KafkaBroker(ADDRESS)
    batches: list[list[Item]] = []
    tags: list[Tag] = []

    @broker.subscriber("items", batch=True)
    async def items(batch: list[Item]) -> None:
        batches.append(batch)

    @broker.subscriber("tags")(filter=lambda msg: True)
    async def tagged(tag: Tag) -> None:
        tags.append(tag)

    async with TestKafkaBroker(broker) as br:
        await br.publish_batch({"n": 1}, {"n": 2}, topic="items")
        await br.publish({"tag": "x"}, "tags")
    assert batches == [[Item(n=1), Item(n=2)]]
    assert tags == [Tag(tag="x")]


async def test_a_dependency_may_name_a_local_class() -> None:
    class Settings:
        prefix = "p:"

    def settings() -> Settings:
        return Settings()

    broker = KafkaBroker(ADDRESS)
    got: list[str] = []

    @broker.subscriber("t")
    async def handle(body: str, cfg: Settings = Depends(settings)) -> None:
        got.append(cfg.prefix + body)

    async with TestKafkaBroker(broker) as br:
        await br.publish("x", "t")
    assert got == ["p:x"]
