"""The security settings of a Kafka broker (FastStream's ``faststream.kafka.security``):
the classes of :mod:`topicflow.security`, under the Kafka package."""

from __future__ import annotations

from topicflow.security import (
    SASLGSSAPI,
    BaseSecurity,
    SASLOAuthBearer,
    SASLPlaintext,
    SASLScram256,
    SASLScram512,
)

__all__ = [
    "BaseSecurity",
    "SASLGSSAPI",
    "SASLOAuthBearer",
    "SASLPlaintext",
    "SASLScram256",
    "SASLScram512",
]
