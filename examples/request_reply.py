# examples/request_reply.py
"""request()/reply: a pricing service, and a client that asks it for quotes."""

from __future__ import annotations

import asyncio
import os

from pydantic import BaseModel

from topicflow.kafka import KafkaBroker

BOOTSTRAP = os.environ.get("KAFKA_BOOTSTRAP", "127.0.0.1:9092")


class QuoteRequest(BaseModel):
    sku: str
    qty: int


class Quote(BaseModel):
    sku: str
    total: float


service = KafkaBroker(BOOTSTRAP)


@service.subscriber("quotes", group_id="pricing", auto_offset_reset="earliest")
async def quote(request: QuoteRequest) -> Quote:
    # The return value goes back to the caller's reply topic.
    return Quote(sku=request.sku, total=request.qty * 2.5)


async def main() -> Quote:
    async with service, KafkaBroker(BOOTSTRAP) as client:
        await service.start()
        reply = await client.request(QuoteRequest(sku="pen", qty=4), "quotes", timeout=10)
        return Quote.model_validate_json(reply.body)


if __name__ == "__main__":
    print(asyncio.run(main()))
