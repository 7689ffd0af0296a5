"""FastAPI integration: a Kafka broker inside a FastAPI app, as FastStream's
``faststream.kafka.fastapi``.

Example::

    from fastapi import Depends, FastAPI
    from topicflow.kafka.fastapi import KafkaRouter, Logger

    router = KafkaRouter("localhost:9092")

    @router.subscriber("orders")
    async def handle(order: Order, logger: Logger, db=Depends(get_db)) -> None: ...

    @router.post("/orders")
    async def create(order: Order) -> None:
        await router.broker.publish(order, "orders")

    app = FastAPI()
    app.include_router(router)  # the broker starts and stops with the app

Needs FastAPI: ``pip install 'topicflow[fastapi]'``. ``Context``, ``Logger``,
``ContextRepo``, ``KafkaMessage``, ``KafkaBroker`` and ``KafkaProducer`` work in
handlers and in the FastAPI dependencies they use.
"""

from __future__ import annotations

try:
    import fastapi  # noqa: F401
except ImportError as exc:  # pragma: no cover - the extra is installed for the tests
    raise ImportError(
        "topicflow.kafka.fastapi needs FastAPI, which is not installed: "
        "pip install 'topicflow[fastapi]'",
        name=exc.name,
    ) from exc

import logging
from typing import Annotated

from topicflow._context import ContextRepo as _ContextRepo
from topicflow.kafka.broker._publishing import Producer as _Producer
from topicflow.kafka.broker.broker import KafkaBroker as _KafkaBroker
from topicflow.kafka.fastapi._bridge import Context, install
from topicflow.kafka.fastapi._router import KafkaRouter
from topicflow.kafka.message import KafkaMessage as _KafkaMessage

__all__ = [
    "Context",
    "ContextRepo",
    "KafkaBroker",
    "KafkaMessage",
    "KafkaProducer",
    "KafkaRouter",
    "Logger",
]

install()

Logger = Annotated[logging.Logger, Context("logger")]
ContextRepo = Annotated[_ContextRepo, Context("context")]
KafkaMessage = Annotated[_KafkaMessage, Context("message")]
KafkaBroker = Annotated[_KafkaBroker, Context("broker")]
KafkaProducer = Annotated[_Producer, Context("broker.producer")]
