"""The same traffic through FastStream's or topicflow's Prometheus middleware, under each
one's TestKafkaBroker; prints the scrape, as each framework's own exposition.

Run with FastStream's venv (``python prometheus_traffic.py faststream``) or the
project's (``... topicflow``): the code below is the same for both but the imports.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys

from prometheus_client import CollectorRegistry, generate_latest

if sys.argv[1] == "faststream":
    from faststream import AckPolicy
    from faststream.exceptions import RejectMessage
    from faststream.kafka import KafkaBroker, TestKafkaBroker
    from faststream.kafka.prometheus import KafkaPrometheusMiddleware
else:
    from topicflow import AckPolicy
    from topicflow.exceptions import RejectMessage
    from topicflow.kafka import KafkaBroker, TestKafkaBroker
    from topicflow.kafka.prometheus import KafkaPrometheusMiddleware


def main() -> None:
    registry = CollectorRegistry()
    middleware = KafkaPrometheusMiddleware(
        registry=registry,
        metrics_prefix="faststream",
        app_name="svc",
        custom_labels={"region": "eu", "source": lambda record: "consumer" if record else "-"},
    )
    broker = KafkaBroker(middlewares=[middleware])

    @broker.subscriber("orders", group_id="g", ack_policy=AckPolicy.ACK)
    @broker.publisher("shipped")
    async def handle(order: dict) -> dict:
        if order["id"] % 5 == 3:
            raise ValueError("failing")
        if order["id"] % 5 == 4:
            raise RejectMessage()
        return {"shipped": order["id"]}

    @broker.subscriber("batch", group_id="gb", batch=True)
    async def handle_batch(orders: list[dict]) -> None:
        return None

    async def traffic() -> None:
        async with TestKafkaBroker(broker) as br:
            for i in range(10):
                with contextlib.suppress(ValueError, RejectMessage):
                    await br.publish({"id": i}, "orders")
            await br.publish_batch({"id": 1}, {"id": 2}, {"id": 3}, topic="batch")

    asyncio.run(traffic())
    sys.stdout.write(generate_latest(registry).decode())


if __name__ == "__main__":
    main()
