"""The subscriber options of the reference API, written once.

:class:`SubscriberOptions` types the keyword arguments of every
``subscriber()`` overload (with ``typing.Unpack``); :class:`SubscriberConfig`
holds them with the reference's defaults. Consumer settings are handed to the
Kafka consumer unchanged, keyword for keyword.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Collection, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Literal, TypedDict

from topicflow.exceptions import SetupError

if TYPE_CHECKING:
    from topicflow.ack import AckPolicy
    from topicflow.kafka._transport import TopicPartition

__all__ = ["CONSUMER_OPTION_NAMES", "SubscriberConfig", "SubscriberOptions"]


class SubscriberOptions(TypedDict, total=False):
    """Keyword arguments of ``subscriber()`` besides ``batch``, ``group_id`` and ``max_workers``."""

    group_instance_id: str | None
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
    ack_policy: AckPolicy | None
    no_reply: bool
    title: str | None
    description: str | None
    include_in_schema: bool


#: The options that belong to the Kafka consumer itself.
CONSUMER_OPTION_NAMES = (
    "group_instance_id",
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
        max_records = given.get("max_records")
        if max_records is not None and max_records < 1:
            raise SetupError(f"{what}: max_records must be at least 1, got {max_records}")
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
