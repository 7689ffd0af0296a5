"""Handler annotations of the Kafka broker (FastStream's ``faststream.kafka.annotations``).

``msg: KafkaMessage`` gets the message being handled, ``broker: KafkaBroker`` the
broker; ``Logger``, ``ContextRepo`` and ``NoCast`` are those of
:mod:`topicflow.annotations`.
"""

from __future__ import annotations

from typing import Annotated

from topicflow.annotations import ContextRepo, Logger, NoCast
from topicflow.kafka.broker.broker import KafkaBroker as _KafkaBroker
from topicflow.kafka.message import KafkaMessage as _KafkaMessage
from topicflow.params import Context

__all__ = ["ContextRepo", "KafkaBroker", "KafkaMessage", "Logger", "NoCast"]

KafkaMessage = Annotated[_KafkaMessage, Context("message")]
KafkaBroker = Annotated[_KafkaBroker, Context("broker")]
