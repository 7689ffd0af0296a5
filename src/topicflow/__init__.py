"""topicflow: declarative Kafka services for asyncio.

Decorate an async function with ``@broker.subscriber("orders")``: its parameters
are validated from each message, its return value can be published, and each
partition's offset is committed only up to the messages that are finished.
"""

from __future__ import annotations

from topicflow._apply import apply_types
from topicflow.ack import AckPolicy
from topicflow.annotations import ContextRepo, Logger
from topicflow.app import App, FastStream
from topicflow.exceptions import (
    AckMessage,
    CommitError,
    ContextError,
    DecodeError,
    FastStreamException,
    FeatureNotSupportedException,
    FetchError,
    HandlerException,
    IgnoredException,
    IncorrectState,
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
    SkipMessage,
    StartupValidationError,
    StopApplication,
    StopConsume,
    SubscriberFailed,
    SubscriberNotFound,
    TopicflowError,
    WaitTimeout,
)
from topicflow.message import SourceType, StreamMessage
from topicflow.middlewares import BaseMiddleware, ExceptionMiddleware
from topicflow.params import Context, Depends, Header, NoCast, Path, UnderlyingDriverAnnotation
from topicflow.response import BatchPublishCommand, PublishCommand, PublishType, Response
from topicflow.specification import AsyncAPI
from topicflow.testing import TestApp

__version__ = "0.1.0.dev0"

__all__ = [
    "AckMessage",
    "AckPolicy",
    "App",
    "AsyncAPI",
    "BaseMiddleware",
    "BatchPublishCommand",
    "CommitError",
    "Context",
    "ContextError",
    "ContextRepo",
    "DecodeError",
    "Depends",
    "ExceptionMiddleware",
    "FastStream",
    "FastStreamException",
    "FeatureNotSupportedException",
    "FetchError",
    "HandlerException",
    "Header",
    "IgnoredException",
    "IncorrectState",
    "KafkaAuthenticationError",
    "KafkaAuthorizationError",
    "KafkaCertificateError",
    "KafkaConnectTimeout",
    "KafkaUnavailableError",
    "Logger",
    "NackMessage",
    "NoCast",
    "Path",
    "PublishCommand",
    "PublishError",
    "PublishTimeout",
    "PublishType",
    "RejectMessage",
    "RequestTimeout",
    "Response",
    "SetupError",
    "SkipMessage",
    "SourceType",
    "StartupValidationError",
    "StopApplication",
    "StopConsume",
    "StreamMessage",
    "SubscriberFailed",
    "SubscriberNotFound",
    "TestApp",
    "TopicflowError",
    "UnderlyingDriverAnnotation",
    "WaitTimeout",
    "apply_types",
]
