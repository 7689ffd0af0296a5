"""Publish sample orders: ``python -m examples.publish_orders FIRST_ID COUNT``."""

from __future__ import annotations

import asyncio
import os
import sys

from examples.orders import Order
from topicflow.kafka import KafkaBroker

ITEMS = ["book", "pen", "lamp"]


async def main(first_id: int, count: int) -> None:
    async with KafkaBroker(os.environ.get("KAFKA_BOOTSTRAP", "127.0.0.1:9092")) as broker:
        for n in range(count):
            order = Order(id=first_id + n, item=ITEMS[n % len(ITEMS)], qty=n + 1)
            meta = await broker.publish(order, "orders", key=str(order.id))
            print(
                f"published order {order.id}: {order.qty} x {order.item} "
                f"-> partition {meta.partition} offset {meta.offset}"
            )


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), int(sys.argv[2])))
