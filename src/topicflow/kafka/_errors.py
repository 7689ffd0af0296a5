"""What the Kafka client's failures become: a topicflow error that names the fix.

:data:`CLIENT_ERRORS` lists, per Kafka operation, the client errors that
operation can raise, grouped by the rule they follow. A rule is a topicflow
exception type and a hint: what to do about it. :func:`translate` turns a client
error and the facts of the failed call (topic, group, settings) into the
exception::

    the cluster did not take a record for 'orders': [Error 10]
    MessageSizeTooLargeError. The cluster refused the record as larger than the
    topic's max.message.bytes ...

The client errors are named here as text (classes of ``aiokafka.errors``, or
builtins) because :mod:`topicflow.kafka._transport` is the one module that
imports the client: it resolves the names into classes when it is imported (a
name that does not resolve fails that import) and calls :func:`translate` at
each call into the client. ``docs/errors.md`` shows the same table for users.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, NamedTuple

from topicflow.exceptions import (
    CommitError,
    FetchError,
    KafkaAuthorizationError,
    KafkaConnectTimeout,
    KafkaUnavailableError,
    PublishError,
    PublishTimeout,
    SetupError,
    TopicflowError,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

    from topicflow.kafka._options import ConnectionOptions, ConsumerSpec

__all__ = [
    "ACTIONS",
    "CLIENT_ERRORS",
    "RULES",
    "Rule",
    "build",
    "facts",
    "legal_topic",
    "translate",
]

_CONNECTION = "KafkaConnectionError NodeNotReadyError RequestTimedOutError"
_SEND = {
    "too_large_for_client": "MessageSizeTooLargeError",
    "unknown_topic": "UnknownTopicOrPartitionError",
    "invalid_topic": "InvalidTopicError",
    "no_partition": "AssertionError",  # the client asserts that partition= exists
    "write_denied": "TopicAuthorizationFailedError",
    "buffer_full": "KafkaTimeoutError",
    "transactional": "IllegalOperation",
    "not_connected": "ProducerClosed",
    "publish_failed": "KafkaError",
}
_READ_DENIED = "TopicAuthorizationFailedError GroupAuthorizationFailedError"

#: Per operation, the client errors it can raise, by the rule each follows. An error
#: follows the rule of its class, else that of its nearest base; each operation's last
#: rule (KafkaError's) takes the rest.
CLIENT_ERRORS: Mapping[str, Mapping[str, str]] = {
    # producer, consumer and admin client: construction and start()
    "connect": {
        "no_answer": "TimeoutError",
        "old_cluster": "UnsupportedVersionError UnrecognizedBrokerVersion "
        "IncompatibleBrokerVersion",
        "client_setting": "ValueError TypeError RuntimeError KafkaConfigurationError",
        "unreachable": f"{_CONNECTION} OSError KafkaError",
    },
    "send": _SEND,  # producer.send(), which waits for the topic's partitions
    "send_batch": _SEND,  # partitions_for(), create_batch(), send_batch()
    # the future of a sent record: the cluster's answer, or none in time
    "confirm": {
        "too_large_for_topic": "MessageSizeTooLargeError RecordListTooLargeError",
        "unknown_topic": "UnknownTopicOrPartitionError",
        "invalid_topic": "InvalidTopicError",
        "write_denied": "TopicAuthorizationFailedError",
        "not_confirmed": "KafkaTimeoutError TimeoutError",
        "not_taken": f"{_CONNECTION} NotLeaderForPartitionError LeaderNotAvailableError",
        "not_enough_replicas": "NotEnoughReplicasError NotEnoughReplicasAfterAppendError",
        "fenced": "ProducerFenced InvalidProducerEpoch OutOfOrderSequenceNumber UnknownProducerId",
        "not_connected": "ProducerClosed",
        "publish_failed": "KafkaError",
    },
    "getmany": {
        "fetch_unreachable": _CONNECTION,
        "no_committed_offset": "NoOffsetForPartitionError",
        "offset_out_of_range": "OffsetOutOfRangeError",
        "record_too_large": "RecordTooLargeError",
        "corrupt_record": "CorruptRecordException",
        "read_denied": _READ_DENIED,
        "group_setting": "InvalidSessionTimeoutError InconsistentGroupProtocolError "
        "InvalidGroupIdError",
        "fetch_failed": "KafkaError",
    },
    "commit": {
        "group_moved_on": "CommitFailedError IllegalGenerationError UnknownMemberIdError "
        "RebalanceInProgressError",
        "not_assigned": "IllegalStateError",
        "commit_denied": "GroupAuthorizationFailedError TopicAuthorizationFailedError",
        "coordinator_unreachable": f"{_CONNECTION} GroupCoordinatorNotAvailableError "
        "NotCoordinatorForGroupError",
        "commit_failed": "IllegalOperation KafkaError",
    },
    # position() on assignment. IllegalStateError and NoOffsetForPartitionError are left
    # to the fetch, which reports them; seek(), pause() and resume() raise only
    # IllegalStateError, for a partition revoked meanwhile: no longer ours to move.
    "position": {
        "fetch_unreachable": f"{_CONNECTION} KafkaTimeoutError",
        "read_denied": _READ_DENIED,
        "fetch_failed": "KafkaError",
    },
    # the admin client's start(), list_topics(), create_topics() and each topic's error
    # in the answer (TopicAlreadyExistsError is left out: created in between)
    "create_topics": {
        "create_unreachable": f"{_CONNECTION} OSError",
        "create_no_answer": "TimeoutError",
        "bad_topic_settings": "InvalidReplicationFactorError InvalidPartitionsError "
        "InvalidReplicationAssignmentError InvalidConfigurationError InvalidTopicError "
        "PolicyViolationError InvalidRequestError",
        "create_denied": "TopicAuthorizationFailedError ClusterAuthorizationFailedError",
        "create_failed": "KafkaError",
    },
}


class Rule(NamedTuple):
    """A topicflow exception type and the hint that goes with it."""

    becomes: type[TopicflowError]
    #: What to do; ``str.format`` fields are facts of the call (see ``ACTIONS``).
    hint: str


#: The start of each message: what failed. Every operation's facts give
#: servers, topic, group, consumer, reset, request_timeout_ms and max_request_size.
ACTIONS: Mapping[str, str] = {
    "connect": "cannot reach Kafka at {servers}",
    "send": "could not publish to {topic!r}",
    "send_batch": "could not publish a batch to {topic!r}",
    "confirm": "the cluster did not take a record{for_topic}",
    "getmany": "{consumer} could not fetch",
    "commit": "{consumer} could not commit its offsets",
    "position": "{consumer} could not find where to start reading",
    "create_topics": "could not create the declared topics {topic}",
}

_REACH = (
    "Check that the broker is running and that bootstrap_servers names its advertised "
    "host:port (for a local broker: scripts/kafka start)."
)
_NOT_TAKEN = (
    "The cluster did not take the record within request_timeout_ms ({request_timeout_ms} "
    "ms): check that it is reachable and that the partition's leader is up."
)

RULES: Mapping[str, Rule] = {
    # -- connecting (producer, consumer and admin client start) --
    "unreachable": Rule(KafkaUnavailableError, _REACH),
    "no_answer": Rule(
        KafkaConnectTimeout,
        "Nothing answered within request_timeout_ms ({request_timeout_ms} ms). " + _REACH + " "
        "For a cluster that is still starting: App(wait_for_broker=SECONDS) or "
        "topicflow run --wait-for-broker SECONDS.",
    ),
    "old_cluster": Rule(
        SetupError,
        "The cluster does not support what the client asked for (idempotent publishing needs "
        "Kafka 0.11 or newer): upgrade the cluster, or pass enable_idempotence=False.",
    ),
    "client_setting": Rule(
        SetupError,
        "The Kafka client refused a setting of KafkaBroker() or subscriber(): correct the one "
        "named. A missing compression library: pip install 'aiokafka[snappy]' (or lz4, zstd), "
        "or use compression_type='gzip'.",
    ),
    # -- publishing --
    "not_connected": Rule(
        SetupError,
        "The broker is not connected (or was stopped): use 'async with broker:', 'await "
        "broker.connect()' or 'await broker.start()' first, and publish before stop().",
    ),
    "too_large_for_client": Rule(
        PublishError,
        "The record is larger than max_request_size ({max_request_size} bytes): raise "
        "KafkaBroker(max_request_size=...) and the topic's max.message.bytes with it, or "
        "publish smaller records.",
    ),
    "too_large_for_topic": Rule(
        PublishError,
        "The cluster refused the record as larger than the topic's max.message.bytes (by "
        "default the broker's message.max.bytes, about 1 MiB); max_request_size "
        "({max_request_size} bytes) only bounds what the client sends. Raise the topic's "
        "max.message.bytes (Topic({topic!r}, config={{'max.message.bytes': '...'}}) for a new "
        "topic, kafka-configs.sh for an existing one) or publish smaller records.",
    ),
    "unknown_topic": Rule(
        PublishError,
        "The topic does not exist and the cluster did not create it on first use "
        "(auto.create.topics.enable=false, or the name collides with an existing topic's, "
        "'.' and '_' counting as the same): declare it as Topic({topic!r}, num_partitions=N) "
        "so the broker creates it at start, or create it with Kafka's tools.",
    ),
    "invalid_topic": Rule(
        PublishError,
        "Kafka topic names are 1 to 249 of the characters a-z, A-Z, 0-9, '.', '_' and '-': "
        "rename the topic.",
    ),
    "no_partition": Rule(
        PublishError,
        "The topic has no such partition: publish to one of its partitions (0 to its "
        "partition count - 1), or leave partition= out.",
    ),
    "write_denied": Rule(
        KafkaAuthorizationError,
        "The cluster's ACLs do not let this client write to {topic!r}: grant its principal "
        "WRITE and DESCRIBE on the topic.",
    ),
    "buffer_full": Rule(
        PublishTimeout,
        "The record could not be queued within request_timeout_ms ({request_timeout_ms} ms): "
        "the producer's buffer stayed full, or the topic's metadata did not come, because the "
        "cluster is slow or unreachable. Await confirmations (drop no_confirm=True) to slow "
        "down, or raise request_timeout_ms.",
    ),
    "not_confirmed": Rule(
        PublishTimeout,
        "No confirmation within request_timeout_ms ({request_timeout_ms} ms): the cluster is "
        "unreachable or slow. The producer keeps retrying it, so the record may still be "
        "written: publishing it again may write it twice.",
    ),
    "not_taken": Rule(PublishError, _NOT_TAKEN),
    "not_enough_replicas": Rule(
        PublishError,
        "Fewer replicas of the partition are in sync than the topic's min.insync.replicas, "
        "which acks='all' needs: bring the brokers back, or lower min.insync.replicas.",
    ),
    "fenced": Rule(
        PublishError,
        "The producer's idempotent session ended (another producer took over its "
        "transactional_id, or the cluster lost the producer's state); the record is not "
        "written. Connect the broker again (stop, then start) and publish it again.",
    ),
    "transactional": Rule(
        SetupError,
        "topicflow does not run Kafka transactions, and a transactional producer cannot "
        "publish outside one: drop KafkaBroker(transactional_id=...).",
    ),
    "publish_failed": Rule(
        PublishError,
        "The client's error says why; the broker's log may say more. Publishing it again "
        "may help if the cause was passing.",
    ),
    # -- consuming --
    "fetch_unreachable": Rule(KafkaUnavailableError, _REACH),
    "no_committed_offset": Rule(
        SetupError,
        "{what} has no committed offset in group {group!r}, and auto_offset_reset={reset!r} "
        "gives no other place to start: use auto_offset_reset='earliest' or 'latest', or "
        "commit a starting offset for the group.",
    ),
    "offset_out_of_range": Rule(
        SetupError,
        "The position is outside the partition's records (retention deleted them, or the "
        "topic was recreated), and auto_offset_reset={reset!r} gives no other place to go: "
        "use auto_offset_reset='earliest' or 'latest'.",
    ),
    "record_too_large": Rule(
        FetchError,
        "A record is larger than max_partition_fetch_bytes, so it can never be fetched: "
        "raise subscriber(..., max_partition_fetch_bytes=...) (and fetch_max_bytes) above "
        "the topic's max.message.bytes.",
    ),
    "corrupt_record": Rule(
        FetchError,
        "A record failed its CRC check: the log segment is damaged. Inspect the partition "
        "with Kafka's tools; check_crcs=False skips the check.",
    ),
    "read_denied": Rule(
        KafkaAuthorizationError,
        "The cluster's ACLs do not let this client read {topic!r} or use group {group!r}: "
        "grant its principal READ on the topic and on the group.",
    ),
    "group_setting": Rule(
        SetupError,
        "The group coordinator refused the member's settings: session_timeout_ms must lie "
        "within the broker's group.min.session.timeout.ms and group.max.session.timeout.ms, "
        "every member of group {group!r} must share a partition_assignment_strategy, and the "
        "group id must be valid.",
    ),
    "fetch_failed": Rule(
        FetchError,
        "The client's error says why; the fetch task is restarted (supervision) and the "
        "messages after the last commit are read again.",
    ),
    # -- committing --
    "group_moved_on": Rule(
        CommitError,
        "The group rebalanced and gave the partition to another member (or this member was "
        "too slow: handle a fetch within max_poll_interval_ms, or raise session_timeout_ms); "
        "the new owner starts after the last committed offset, so some messages come again. "
        "Nothing else to do.",
    ),
    "not_assigned": Rule(
        CommitError,
        "The partition is no longer assigned to this consumer (a rebalance revoked it): the "
        "new owner starts after the last committed offset. Nothing else to do.",
    ),
    "commit_denied": Rule(
        KafkaAuthorizationError,
        "The cluster's ACLs do not let this client commit for group {group!r}: grant its "
        "principal READ on the group and on the topic.",
    ),
    "coordinator_unreachable": Rule(
        CommitError,
        "The group coordinator did not answer within request_timeout_ms "
        "({request_timeout_ms} ms); the commit is tried again at the next interval.",
    ),
    "commit_failed": Rule(
        CommitError,
        "The client's error says why; the commit is tried again at the next interval, and "
        "at worst the messages after the last commit are delivered again.",
    ),
    # -- creating the declared topics --
    "create_unreachable": Rule(KafkaUnavailableError, _REACH),
    "create_no_answer": Rule(
        KafkaConnectTimeout,
        "The cluster did not answer within request_timeout_ms ({request_timeout_ms} ms): " + _REACH,
    ),
    "bad_topic_settings": Rule(
        SetupError,
        "Check the declared Topic(...): num_partitions at least 1, replication_factor at most "
        "the number of brokers, config names and values as Kafka spells them "
        "(e.g. 'retention.ms': '86400000').",
    ),
    "create_denied": Rule(
        KafkaAuthorizationError,
        "The cluster's ACLs do not let this client create topics: grant its principal CREATE "
        "on the cluster or the topics, or create them with Kafka's tools first.",
    ),
    "create_failed": Rule(
        SetupError, "The client's error says why; the broker's log may say more."
    ),
}

_LEGAL_TOPIC = re.compile(r"[a-zA-Z0-9._-]{1,249}")


def legal_topic(name: str) -> bool:
    """True when ``name`` may be a Kafka topic name."""
    return _LEGAL_TOPIC.fullmatch(name) is not None and name not in (".", "..")


def facts(
    options: ConnectionOptions, topic: str = "", spec: ConsumerSpec | None = None
) -> dict[str, Any]:
    """What a message may name about a call of ``options``' client (for ``topic``, or
    by the consumer of ``spec``)."""
    group = spec.group_id if spec is not None else None
    if spec is None or group is not None:
        consumer = f"the consumer of group {group!r}"
    else:
        consumer = f"the consumer of {spec.topics or spec.pattern or list(spec.partitions)}"
    return {
        "servers": options.servers_text,
        "topic": topic,
        "for_topic": f" for {topic!r}" if topic else "",
        "group": group,
        "consumer": consumer,
        "reset": spec.options.get("auto_offset_reset", "latest") if spec else "latest",
        "request_timeout_ms": options.request_timeout_ms,
        "max_request_size": options.producer.get("max_request_size", 1_048_576),
    }


def translate(
    rules: Mapping[type[BaseException], str],
    operation: str,
    exc: BaseException,
    known: Mapping[str, Any],
) -> TopicflowError:
    """The topicflow error of ``exc``, raised by the client in ``operation``, whose
    client errors follow ``rules`` (class -> rule); a topicflow error stays as it is."""
    if isinstance(exc, TopicflowError):
        return exc
    rule = next((rules[cls] for cls in type(exc).__mro__ if cls in rules), None)
    if rule is None:
        rule = list(CLIENT_ERRORS[operation])[-1]
    if rule == "unknown_topic" and not legal_topic(str(known["topic"])):
        rule = "invalid_topic"  # the cluster calls an illegal name unknown, after a while
    return build(rule, operation, exc, known)


def build(
    rule_name: str, operation: str, exc: BaseException, known: Mapping[str, Any]
) -> TopicflowError:
    """The topicflow error of ``exc`` (raised by the client in ``operation``) under a rule.

    The message is what failed, the client's own words, and the hint.
    """
    rule = RULES[rule_name]
    what = exc.args[0] if exc.args and rule_name == "no_committed_offset" else "a partition"
    hint = rule.hint.format_map({**known, "what": what})
    if rule_name == "no_committed_offset":
        text = hint  # the hint says it all (the partition, the group, the fix)
    else:
        detail = str(exc).rstrip(". ")
        action = ACTIONS[operation].format_map(known)
        text = f"{action}: {detail}. {hint}" if detail else f"{action}. {hint}"
    if issubclass(rule.becomes, KafkaUnavailableError):
        return rule.becomes(text, bootstrap_servers=str(known["servers"]))
    return rule.becomes(text)
