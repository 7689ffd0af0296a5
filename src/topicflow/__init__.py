"""topicflow: declarative Kafka services for asyncio.

Decorate an async function with ``@broker.subscriber("orders")``: its parameters
are validated from each message, its return value can be published, and each
partition's offset is committed only up to the messages that are finished.
"""

from __future__ import annotations

from topicflow.ack import AckPolicy
from topicflow.app import App
from topicflow.exceptions import (
    AckMessage,
    CommitError,
    DecodeError,
    FetchError,
    HandlerException,
    KafkaAuthenticationError,
    KafkaAuthorizationError,
    KafkaCertificateError,
    KafkaConnectTimeout,
    KafkaUnavailableError,
    NackMessage,
    PublishError,
    PublishTimeout,
    RejectMessage,
    RequestTimeout,
    SetupError,
    SubscriberFailed,
    TopicflowError,
    WaitTimeout,
)
from topicflow.middlewares import BaseMiddleware
from topicflow.params import Context, Depends, Header, Path
from topicflow.response import Response
from topicflow.specification import AsyncAPI
from topicflow.testing import TestApp

__version__ = "0.1.0.dev0"

__all__ = [
    "AckMessage",
    "AckPolicy",
    "App",
    "AsyncAPI",
    "BaseMiddleware",
    "CommitError",
    "Context",
    "DecodeError",
    "Depends",
    "FetchError",
    "HandlerException",
    "Header",
    "KafkaAuthenticationError",
    "KafkaAuthorizationError",
    "KafkaCertificateError",
    "KafkaConnectTimeout",
    "KafkaUnavailableError",
    "NackMessage",
    "Path",
    "PublishError",
    "PublishTimeout",
    "RejectMessage",
    "RequestTimeout",
    "Response",
    "SetupError",
    "SubscriberFailed",
    "TestApp",
    "TopicflowError",
    "WaitTimeout",
]
