"""Handler annotations of the Kafka broker (FastStream's ``faststream.kafka.annotations``).

``msg: KafkaMessage`` gets the message being handled, ``broker: KafkaBroker`` the
broker, ``producer: KafkaProducer`` the broker's way to Kafka below its
middlewares (:class:`~topicflow.kafka.broker._publishing.Producer`), ``consumer:
Consumer`` the Kafka client's consumer that fetched the message (aiokafka's
``AIOKafkaConsumer``; under ``TestKafkaBroker`` the in-memory consumer, which
has none of aiokafka's methods); ``Logger``, ``ContextRepo`` and ``NoCast`` are
those of :mod:`topicflow.annotations`.
"""

from __future__ import annotations

from typing import Annotated, Any

from topicflow._resolvers import register_driver
from topicflow.annotations import ContextRepo, Logger, NoCast
from topicflow.kafka._transport import DRIVER_CONSUMER
from topicflow.kafka.broker._publishing import Producer
from topicflow.kafka.broker.broker import KafkaBroker as _KafkaBroker
from topicflow.kafka.message import KafkaMessage as _KafkaMessage
from topicflow.params import Context

__all__ = [
    "Consumer",
    "ContextRepo",
    "KafkaBroker",
    "KafkaMessage",
    "KafkaProducer",
    "Logger",
    "NoCast",
]

KafkaMessage = Annotated[_KafkaMessage, Context("message")]
KafkaBroker = Annotated[_KafkaBroker, Context("broker")]
KafkaProducer = Annotated[Producer, Context("broker.producer")]
Consumer = Annotated[Any, Context("handler_.consumer")]

# Their bare classes mean the same (``broker: KafkaBroker`` is the broker, not a body field).
register_driver(_KafkaBroker, KafkaBroker)
register_driver(Producer, KafkaProducer)
register_driver(DRIVER_CONSUMER, Consumer)
