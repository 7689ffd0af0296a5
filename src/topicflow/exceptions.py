"""The one exception tree of topicflow.

Every error the framework raises on its own account derives from
:class:`TopicflowError`; errors of the Kafka client are translated into it at
the transport boundary, so user code never has to catch aiokafka types::

    TopicflowError
    ├── SetupError                  wrong configuration, found at registration or start
    ├── KafkaUnavailableError       the cluster cannot be reached or refused us
    │   ├── KafkaAuthenticationError    it refused our credentials
    │   │   └── KafkaCertificateError   we do not trust its TLS certificate
    │   └── KafkaConnectTimeout         it did not answer in time (also a TimeoutError)
    ├── KafkaAuthorizationError     the cluster's ACLs refuse an operation on a topic or group
    ├── PublishError                a record was not accepted by the cluster
    │   └── PublishTimeout              not confirmed in time (also a TimeoutError)
    ├── FetchError                  a consumer could not fetch records
    ├── RequestTimeout              request() got no reply in time (also a TimeoutError)
    ├── WaitTimeout                 a test broker's wait ran out (also a TimeoutError)
    ├── CommitError                 an offset commit was refused (e.g. during a rebalance)
    ├── SubscriberFailed            a background task kept crashing and was given up
    ├── DecodeError                 a body does not fit the handler's types (a poison message)
    ├── SubscriberNotFound          \
    ├── IncorrectState               |
    ├── ContextError                 |  FastStream's names (ContextError is also a KeyError,
    ├── FeatureNotSupportedException |  the next a NotImplementedError, the last a ValueError)
    ├── StartupValidationError      /
    └── IgnoredException            raised on purpose, never logged as an error
        ├── StopConsume             (FastStream's name)
        ├── StopApplication         (FastStream's name; also a SystemExit)
        └── HandlerException        raised *by handlers* to steer acknowledgement
            ├── AckMessage          finish the message (commit it), stop handling
            ├── NackMessage         redeliver the message
            ├── RejectMessage       finish the message without success
            └── SkipMessage         finish the message as skipped, stop handling

``FastStreamException`` is another name of :class:`TopicflowError`, so that code
written for FastStream catches the same errors.

Messages say what went wrong and what to do about it. Every timeout a caller
can meet is also a :class:`TimeoutError`. Which client error becomes which
type, per Kafka operation, is listed in ``docs/errors.md``.
"""

from __future__ import annotations

__all__ = [
    "AckMessage",
    "CommitError",
    "ContextError",
    "DecodeError",
    "FastStreamException",
    "FeatureNotSupportedException",
    "FetchError",
    "HandlerException",
    "IgnoredException",
    "IncorrectState",
    "KafkaAuthenticationError",
    "KafkaAuthorizationError",
    "KafkaCertificateError",
    "KafkaConnectTimeout",
    "KafkaUnavailableError",
    "NackMessage",
    "PublishError",
    "PublishTimeout",
    "RejectMessage",
    "RequestTimeout",
    "SetupError",
    "SkipMessage",
    "StartupValidationError",
    "StopApplication",
    "StopConsume",
    "SubscriberFailed",
    "SubscriberNotFound",
    "TopicflowError",
    "WaitTimeout",
]


class TopicflowError(Exception):
    """Base class of every error raised by topicflow itself."""


class SetupError(TopicflowError, ValueError):
    """The application is configured in a way that cannot work.

    Raised at registration or at start, never per message. The message names
    the fix.
    """


class KafkaUnavailableError(TopicflowError, ConnectionError):
    """The Kafka cluster could not be reached, or refused the connection."""

    def __init__(self, message: str, *, bootstrap_servers: str) -> None:
        super().__init__(message)
        self.bootstrap_servers = bootstrap_servers


class KafkaAuthenticationError(KafkaUnavailableError):
    """The cluster refused the credentials (SASL) of ``KafkaBroker(security=...)``,
    or, as :class:`KafkaCertificateError`, TLS could not authenticate the cluster."""


class KafkaCertificateError(KafkaAuthenticationError):
    """The broker's TLS certificate did not verify against the ``ssl_context`` of
    ``KafkaBroker(security=...)``: it is signed by a CA the context does not trust,
    it does not name the host connected to, or it has expired.

    The message names the reason and the fix (the CA file, or the host name).
    """


class KafkaConnectTimeout(KafkaUnavailableError, TimeoutError):
    """The cluster did not answer within ``request_timeout_ms`` (or within
    ``App(wait_for_broker=...)``): nothing listens, or a firewall drops the packets."""


class KafkaAuthorizationError(TopicflowError):
    """The cluster's ACLs do not allow this client an operation on a topic, a
    consumer group or the cluster (write, read, create). Grant it to the client's
    principal; retrying changes nothing."""


class PublishError(TopicflowError):
    """The cluster did not accept a record (after the client's own retries)."""


class PublishTimeout(PublishError, TimeoutError):
    """A record was not queued, or not confirmed, within ``request_timeout_ms``.

    The producer may still deliver it later (an idempotent producer retries
    until the cluster takes it): publishing it again may write it twice.
    """


class FetchError(TopicflowError):
    """A consumer could not fetch records, for a reason that retrying does not cure
    (a record larger than the fetch size, a corrupt record). The subscriber's
    fetch task crashes with it and is restarted or given up (supervision)."""


class RequestTimeout(TopicflowError, TimeoutError):
    """``request()`` got no reply within its ``timeout``; nothing is left behind."""


class WaitTimeout(TopicflowError, TimeoutError):
    """A wait of the test broker ran out: ``wait_call(timeout)`` saw no call, or a
    publish under ``TestKafkaBroker(with_real=True)`` was not handled in time."""


class SubscriberFailed(TopicflowError):
    """A subscriber's background task (fetching, committing, a worker) crashed more often
    than ``KafkaBroker(supervision=...)`` allows and was given up.

    ``App.run()`` (and so ``topicflow run``) stops the service and raises it, so
    that the process exits with code 1 instead of living on without consuming.
    """


class CommitError(TopicflowError):
    """Kafka refused an offset commit, typically because a rebalance moved the
    partition to another member. Nothing is lost: the new owner starts after the
    last committed offset, so some messages are delivered again.
    """


class DecodeError(TopicflowError):
    """A message body could not be decoded or validated for the handler's types.

    Such a message is *poison*: it would fail the same way on every delivery,
    so it is never redelivered. It is logged with its topic, partition and
    offset, and its partition moves on.
    """


FastStreamException = TopicflowError


class IgnoredException(TopicflowError):
    """Raised on purpose to steer the framework; not logged as an error."""


class StopConsume(IgnoredException):
    """FastStream's signal to stop the subscriber whose handler raised it."""


class StopApplication(IgnoredException, SystemExit):
    """FastStream's signal to stop the application."""


class SubscriberNotFound(TopicflowError):
    """No subscriber matches (FastStream's name)."""


class IncorrectState(TopicflowError):
    """An operation was called in a state that does not allow it (FastStream's name)."""


class ContextError(TopicflowError, KeyError):
    """A context value is missing (FastStream's name)."""


class FeatureNotSupportedException(TopicflowError, NotImplementedError):
    """The operation is not supported (FastStream's name)."""


class StartupValidationError(TopicflowError, ValueError):
    """Options given on the command line do not fit what the app's hooks take
    (FastStream's name)."""


class HandlerException(IgnoredException):
    """Raised inside a handler to decide the message's acknowledgement.

    It overrides the subscriber's ``AckPolicy`` and is not logged as an error.
    """


class AckMessage(HandlerException):
    """Finish the message as handled: its offset may be committed."""


class NackMessage(HandlerException):
    """Hand the message back: it is delivered again."""


class RejectMessage(HandlerException):
    """Finish the message as failed: it is committed and not delivered again."""


class SkipMessage(HandlerException):
    """Finish the message as skipped (committed, not an error), stop handling it."""
