"""Options, written once: the subscribers' (as the reference API has them), the
publishers', the connection's, and what one consumer is made with.

:class:`SubscriberOptions` types the keyword arguments of every
``subscriber()`` overload (with ``typing.Unpack``), :class:`PublisherOptions`
those of every ``publisher()``; :class:`SubscriberConfig`
holds them with the reference's defaults. Consumer settings are handed to the
Kafka consumer unchanged, keyword for keyword.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypedDict

from topicflow.ack import AckPolicy
from topicflow.exceptions import SetupError

if TYPE_CHECKING:
    from topicflow.kafka._retry import Retry
    from topicflow.kafka._transport import TopicPartition
    from topicflow.security import BaseSecurity

__all__ = [
    "CONSUMER_OPTION_NAMES",
    "ConnectionOptions",
    "ConsumerSpec",
    "PublisherOptions",
    "SubscriberConfig",
    "SubscriberOptions",
    "check_policy",
    "check_producer",
    "compile_pattern",
]


class PublisherOptions(TypedDict, total=False):
    """Keyword arguments of ``publisher()`` besides ``batch`` (and a broker's or
    router's ``persistent``); their defaults are those of
    :class:`~topicflow.kafka.publisher.DefaultPublisher`."""

    key: Any
    partition: int | None
    headers: Mapping[str, str | bytes] | None
    reply_to: str
    title: str | None
    description: str | None
    schema: Any | None
    include_in_schema: bool
    autoflush: bool


class SubscriberOptions(TypedDict, total=False):
    """Keyword arguments of ``subscriber()`` besides ``batch``, ``group_id`` and ``max_workers``."""

    group_instance_id: str | None
    client_rack: str | None
    key_deserializer: Callable[[bytes], Any] | None
    value_deserializer: Callable[[bytes], Any] | None
    fetch_max_bytes: int
    fetch_min_bytes: int
    fetch_max_wait_ms: int
    max_partition_fetch_bytes: int
    auto_offset_reset: Literal["latest", "earliest", "none"]
    auto_commit_interval_ms: int
    check_crcs: bool
    partition_assignment_strategy: Sequence[Any]
    max_poll_interval_ms: int
    rebalance_timeout_ms: int | None
    session_timeout_ms: int
    heartbeat_interval_ms: int
    consumer_timeout_ms: int
    max_poll_records: int | None
    exclude_internal_topics: bool
    isolation_level: Literal["read_uncommitted", "read_committed"]
    batch_timeout_ms: int
    max_records: int | None
    listener: Any
    pattern: str | None
    partitions: Collection[TopicPartition]
    persistent: bool
    dependencies: Iterable[Any]
    parser: Callable[..., Any] | None
    decoder: Callable[..., Any] | None
    codec: None
    ack_policy: AckPolicy | None
    no_reply: bool
    title: str | None
    description: str | None
    include_in_schema: bool
    retry: Retry | None
    dead_letter: str | None


#: The options that belong to the Kafka consumer itself.
CONSUMER_OPTION_NAMES = (
    "group_instance_id",
    "client_rack",
    "key_deserializer",
    "value_deserializer",
    "fetch_max_bytes",
    "fetch_min_bytes",
    "fetch_max_wait_ms",
    "max_partition_fetch_bytes",
    "auto_offset_reset",
    "auto_commit_interval_ms",
    "check_crcs",
    "partition_assignment_strategy",
    "max_poll_interval_ms",
    "rebalance_timeout_ms",
    "session_timeout_ms",
    "heartbeat_interval_ms",
    "consumer_timeout_ms",
    "max_poll_records",
    "exclude_internal_topics",
    "isolation_level",
)


@dataclasses.dataclass(frozen=True, slots=True)
class SubscriberConfig:
    """Everything ``subscriber()`` was given, with the reference's defaults."""

    topics: tuple[str, ...]
    batch: bool = False
    group_id: str | None = None
    max_workers: int | None = None
    #: Consumer settings, exactly as given (the consumer's defaults apply to the rest).
    consumer: dict[str, Any] = dataclasses.field(default_factory=dict)
    batch_timeout_ms: int = 200
    max_records: int | None = None
    listener: Any = None
    pattern: str | None = None
    partitions: tuple[TopicPartition, ...] = ()
    persistent: bool = True
    dependencies: tuple[Any, ...] = ()
    parser: Callable[..., Any] | None = None
    decoder: Callable[..., Any] | None = None
    ack_policy: AckPolicy | None = None
    no_reply: bool = False
    title: str | None = None
    description: str | None = None
    include_in_schema: bool = True
    #: Non-blocking (or in-place) retries of a failed message (``kafka/_retry.py``).
    retry: Retry | None = None
    #: Where a message goes once it failed for good: a topic name or a ``Topic``.
    dead_letter: str | None = None

    @property
    def commit_interval(self) -> float:
        """Seconds between offset commits: the consumer's ``auto_commit_interval_ms``."""
        return float(self.consumer.get("auto_commit_interval_ms", 5000)) / 1000

    @classmethod
    def build(
        cls,
        topics: Sequence[str],
        *,
        batch: bool,
        group_id: str | None,
        max_workers: int | None,
        options: SubscriberOptions,
    ) -> SubscriberConfig:
        """Check the combination and build the config; raises SetupError naming the fix."""
        given: dict[str, Any] = dict(options)
        unknown = sorted(set(given) - set(SubscriberOptions.__annotations__))
        if unknown:
            raise SetupError(
                f"subscriber() got unknown option(s) {', '.join(unknown)}; see the reference "
                "signature (enable_auto_commit is not an option: topicflow commits itself, "
                "choose when a message counts as done with ack_policy=)"
            )
        consumer = {name: given.pop(name) for name in CONSUMER_OPTION_NAMES if name in given}
        pattern = given.get("pattern")
        partitions = tuple(given.pop("partitions", ()))
        what = f"subscriber({', '.join(map(repr, topics))})"
        if topics and pattern:
            raise SetupError(
                f"{what}: give topics or pattern=, not both; put the topics into the pattern "
                "('a|b') or declare two subscribers"
            )
        if partitions and (topics or pattern):
            raise SetupError(
                f"{what}: partitions= names its own topics; drop the topics/pattern arguments"
            )
        if partitions and group_id is not None:
            raise SetupError(
                f"{what}: partitions= assigns partitions by hand, which a consumer group "
                "cannot do; drop group_id, or drop partitions= and let the group assign them"
            )
        if not topics and not pattern and not partitions:
            raise SetupError(
                "a subscriber needs a topic: broker.subscriber('orders'), "
                "pattern='orders\\..*' or partitions=[TopicPartition('orders', 0)]"
            )
        if batch and max_workers is not None:
            raise SetupError(
                f"{what}: batch=True and max_workers cannot be combined; a batch is handled "
                "by one call. Use max_workers with single-message handlers, or batch alone"
            )
        if max_workers is not None and max_workers < 1:
            raise SetupError(f"{what}: max_workers must be at least 1, got {max_workers}")
        _check_values(what, {**consumer, **given}, batch=batch, group_id=group_id)
        if given.pop("codec", None) is not None:
            raise SetupError(
                f"{what}: codec= is FastStream's custom encoder/decoder, which topicflow "
                "does not take; decode with decoder= (or parser=)"
            )
        dependencies = tuple(given.pop("dependencies", ()))
        return cls(
            topics=tuple(topics),
            batch=batch,
            group_id=group_id,
            max_workers=max_workers,
            consumer=consumer,
            partitions=partitions,
            dependencies=dependencies,
            **given,
        )


Filter = Callable[[Any], bool | Awaitable[bool]]

#: The options that take one of a few words, and those words.
_CHOICES: Mapping[str, tuple[str, ...]] = {
    "auto_offset_reset": ("earliest", "latest", "none"),
    "isolation_level": ("read_uncommitted", "read_committed"),
}
#: Whole-number options and their least value (None: may also be None).
_NUMBERS: Mapping[str, tuple[int, bool]] = {
    "fetch_max_bytes": (1, False),
    "fetch_min_bytes": (1, False),
    "fetch_max_wait_ms": (0, False),
    "max_partition_fetch_bytes": (1, False),
    "auto_commit_interval_ms": (1, False),
    "max_poll_interval_ms": (1, False),
    "rebalance_timeout_ms": (1, True),
    "session_timeout_ms": (1, False),
    "heartbeat_interval_ms": (1, False),
    "consumer_timeout_ms": (0, False),
    "max_poll_records": (1, True),
    "batch_timeout_ms": (0, False),
    "max_records": (1, True),
}
_FLAGS = ("check_crcs", "exclude_internal_topics", "persistent", "no_reply", "include_in_schema")


def check_policy(policy: Any, where: str = "") -> None:
    """``ack_policy=`` must be an AckPolicy (or None): a SetupError naming the fix."""
    if policy is not None and not isinstance(policy, AckPolicy):
        raise SetupError(
            f"{where}ack_policy={policy!r} is not an AckPolicy; use e.g. "
            "ack_policy=AckPolicy.NACK_ON_ERROR (from topicflow import AckPolicy)"
        )


def check_producer(settings: Mapping[str, Any]) -> None:
    """``acks`` and ``enable_idempotence`` of a producer agree: a SetupError naming both.

    An idempotent producer (the default; a ``transactional_id`` makes one too)
    needs every in-sync replica's acknowledgement. Turning idempotence off behind
    the caller's back would drop a guarantee nobody asked to drop, so the caller
    chooses: one more argument, at construction.
    """
    acks = settings.get("acks", "all")
    if acks not in (0, 1, -1, "all"):
        raise SetupError(f"acks={acks!r} is not one of 'all', 1, 0 (-1 means 'all')")
    if acks in ("all", -1):
        return
    if settings.get("transactional_id") is not None:
        raise SetupError(
            f"acks={acks!r} cannot be combined with transactional_id=..., which makes the "
            "producer idempotent and so needs acks='all': drop one of them"
        )
    if settings.get("enable_idempotence", True):
        raise SetupError(
            f"acks={acks!r} cannot be combined with enable_idempotence=True (the default): "
            f"an idempotent producer needs acks='all'. Pass enable_idempotence=False to "
            f"publish with acks={acks!r}, or leave acks out"
        )


def _check_values(what: str, given: Mapping[str, Any], *, batch: bool, group_id: Any) -> None:
    """Each option's value, checked at registration: a SetupError that names the fix."""
    for name, words in _CHOICES.items():
        value = given.get(name)
        if name in given and value not in words:
            near = difflib.get_close_matches(str(value), words, n=1)
            hint = f"; did you mean {near[0]!r}?" if near else ""
            raise SetupError(
                f"{what}: {name}={value!r} is not one of {', '.join(map(repr, words))}{hint}"
            )
    for name, (least, optional) in _NUMBERS.items():
        if name not in given or (optional and given[name] is None):
            continue
        value = given[name]
        if type(value) is not int or value < least:
            raise SetupError(
                f"{what}: {name} must be a whole number of at least {least}, got {value!r}"
            )
    for name in _FLAGS:
        if name in given and not isinstance(given[name], bool):
            raise SetupError(f"{what}: {name} must be True or False, got {given[name]!r}")
    session = given.get("session_timeout_ms")
    heartbeat = given.get("heartbeat_interval_ms")
    if session is not None and heartbeat is not None and heartbeat >= session:
        raise SetupError(
            f"{what}: heartbeat_interval_ms ({heartbeat}) must be below session_timeout_ms "
            f"({session}); Kafka's advice is a third of it"
        )
    if group_id is not None and not isinstance(group_id, str):
        raise SetupError(f"{what}: group_id must be a string, got {group_id!r}")
    if given.get("group_instance_id") is not None and group_id is None:
        raise SetupError(
            f"{what}: group_instance_id= (static membership) needs a group: give group_id="
        )
    policy = given.get("ack_policy")
    check_policy(policy, f"{what}: ")
    if batch and policy is AckPolicy.MANUAL:
        raise SetupError(
            f"{what}: a batch handler receives bodies, not messages it could ack, so "
            "AckPolicy.MANUAL cannot apply; use ACK (the default) and raise NackMessage "
            "or RejectMessage to decide otherwise for the whole batch"
        )
    listener = given.get("listener")
    if listener is not None and not all(
        callable(getattr(listener, hook, None))
        for hook in ("on_partitions_assigned", "on_partitions_revoked")
    ):
        raise SetupError(
            f"{what}: listener= needs on_partitions_assigned(assigned) and "
            "on_partitions_revoked(revoked) methods (sync or async), as a "
            "ConsumerRebalanceListener has"
        )


@dataclass(frozen=True, slots=True)
class ConnectionOptions:
    """How to reach the cluster, and producer settings. Passed to the client as is."""

    bootstrap_servers: str | Sequence[str] = "localhost"
    client_id: str | None = None
    request_timeout_ms: int = 40_000
    retry_backoff_ms: int = 100
    metadata_max_age_ms: int = 300_000
    connections_max_idle_ms: int = 540_000
    #: Producer settings (acks, linger_ms, compression_type, ...), keyword-for-keyword.
    producer: Mapping[str, Any] = field(default_factory=dict)
    #: TLS/SASL settings (``topicflow.security``); None is plain TCP.
    security: BaseSecurity | None = None
    #: Settings every consumer gets (``client_rack``); a subscriber's own win.
    consumer: Mapping[str, Any] = field(default_factory=dict)
    #: No producer: the broker only consumes, and publishing is a SetupError.
    consumer_only: bool = False
    #: Let a subscriber's start ask the cluster to create a missing topic.
    allow_auto_create_topics: bool = True
    #: Client settings passed on unchanged (``sasl_kerberos_service_name``, ...).
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_producer(self.producer)

    @property
    def servers_text(self) -> str:
        """The bootstrap servers as one comma-separated string, for messages."""
        if isinstance(self.bootstrap_servers, str):
            return self.bootstrap_servers
        return ",".join(self.bootstrap_servers)

    def client_kwargs(self) -> dict[str, Any]:
        """Settings shared by the producer and the consumers."""
        kwargs: dict[str, Any] = {
            "bootstrap_servers": self.bootstrap_servers,
            "request_timeout_ms": self.request_timeout_ms,
            "retry_backoff_ms": self.retry_backoff_ms,
            "metadata_max_age_ms": self.metadata_max_age_ms,
            "connections_max_idle_ms": self.connections_max_idle_ms,
        }
        if self.client_id is not None:
            kwargs["client_id"] = self.client_id
        if self.security is not None:
            kwargs.update(self.security.client_settings())
        kwargs.update(self.extra)
        return kwargs


@dataclass(frozen=True, slots=True)
class ConsumerSpec:
    """What one subscriber consumes, and the consumer settings it passes through."""

    topics: tuple[str, ...]
    group_id: str | None
    #: Consumer keyword arguments (auto_offset_reset, session_timeout_ms, ...).
    options: Mapping[str, Any] = field(default_factory=dict)
    #: A regex subscription instead of ``topics``.
    pattern: str | None = None
    #: Manual assignment instead of a group subscription.
    partitions: tuple[TopicPartition, ...] = ()


_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def compile_pattern(pattern: str) -> tuple[str, re.Pattern[str]]:
    """The regex Kafka subscribes with, and the one that extracts ``{name}`` values.

    A ``{name}`` placeholder matches one or more characters other than ``.``;
    the rest of the pattern is a regular expression, matched against the whole
    topic name.
    """
    with_groups = _PLACEHOLDER.sub(lambda m: f"(?P<{m.group(1)}>[^.]+)", pattern)
    try:
        compiled = re.compile(f"^(?:{with_groups})$")
    except re.error as exc:
        raise SetupError(f"pattern {pattern!r} is not a valid regular expression: {exc}") from exc
    plain = _PLACEHOLDER.sub("[^.]+", pattern)
    return f"^(?:{plain})$", compiled
