"""Read an App's brokers, subscribers and publishers into an :class:`AppInfo`.

Only public attributes of the runtime objects are read, and only here. The
places where features still being built will plug in are marked ``Seam:``;
each is a single function whose today's answer is the trivial one.
"""

from __future__ import annotations

import functools
import inspect
import operator
import re
import types
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Union, cast, get_args, get_origin

from topicflow.asyncapi._model import (
    AppInfo,
    AppMeta,
    ChannelInfo,
    MessageInfo,
    OperationInfo,
    SecurityScheme,
    ServerInfo,
)
from topicflow.asyncapi._payloads import UNKNOWN, Payload, payload_schemas

if TYPE_CHECKING:
    from collections.abc import Iterator

    from topicflow.app import App
    from topicflow.asyncapi._model import Action
    from topicflow.kafka._subscriber import Subscriber
    from topicflow.kafka.broker.broker import KafkaBroker
    from topicflow.kafka.publisher import DefaultPublisher
    from topicflow.specification import AsyncAPI

__all__ = [
    "ChannelAddress",
    "ConnectionSecurity",
    "broker_security",
    "collect",
    "pattern_address",
]

#: ``{name}`` in a topic pattern; ``{2}`` or ``{1,3}`` (regex repetition) is not one.
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True, slots=True)
class ChannelAddress:
    """A channel's address and the names of its ``{name}`` placeholders."""

    address: str
    parameters: tuple[str, ...] = ()


def pattern_address(pattern: str) -> ChannelAddress:
    """The address of a pattern subscription: ``"logs.{level}"`` has the parameter ``level``."""
    names = tuple(dict.fromkeys(_PLACEHOLDER.findall(pattern)))
    return ChannelAddress(pattern, names)


@dataclass(frozen=True, slots=True)
class ConnectionSecurity:
    """How a broker's connection is protected, as the documents describe it."""

    #: True when the connection uses TLS: the servers' protocol is ``kafka-secure``.
    tls: bool = False
    schemes: tuple[SecurityScheme, ...] = ()


# -- seams -----------------------------------------------------------------------


#: SASL mechanism -> (AsyncAPI security scheme type, scheme key).
_SCHEMES = {
    "PLAIN": ("plain", "sasl-plain"),
    "SCRAM-SHA-256": ("scramSha256", "sasl-scram-sha-256"),
    "SCRAM-SHA-512": ("scramSha512", "sasl-scram-sha-512"),
    "GSSAPI": ("gssapi", "sasl-gssapi"),
}


def broker_security(broker: KafkaBroker) -> ConnectionSecurity:
    """The security of ``broker``'s connection, from ``KafkaBroker(security=...)``.

    TLS makes the servers' protocol ``kafka-secure``; a SASL mechanism becomes
    the matching AsyncAPI security scheme.
    """
    security = broker.security
    if security is None:
        return ConnectionSecurity()
    schemes: tuple[SecurityScheme, ...] = ()
    # OAUTHBEARER is left out: AsyncAPI's oauth2 scheme needs token flows we do not know.
    if security.mechanism in _SCHEMES:
        kind, key = _SCHEMES[security.mechanism]
        over = "over TLS" if security.use_ssl else "without TLS"
        schemes = (SecurityScheme(key, kind, f"SASL {security.mechanism} {over}"),)
    return ConnectionSecurity(tls=security.use_ssl, schemes=schemes)


def _subscribers(broker: KafkaBroker) -> Iterator[Subscriber]:
    """Every documented subscriber of ``broker`` and its routers, as it runs.

    ``broker.resolve()`` walks the included routers: topics carry their
    prefixes, a router included twice gives two subscribers, and anything under
    ``include_in_schema=False`` reports itself hidden.
    """
    for sub in broker.resolve():
        if sub.include_in_schema:
            yield sub


def _publishers(
    broker: KafkaBroker, subscribers: list[Subscriber]
) -> Iterator[tuple[DefaultPublisher, list[Any]]]:
    """Every documented publisher, with the plans of the handlers whose results it sends.

    Declared publishers are bound to their router's prefix by ``resolve()``;
    those stacked on a handler are taken as the handler's subscriber resolved
    them (a router included twice sends to two topics).
    """
    handlers: dict[tuple[int, str], tuple[DefaultPublisher, list[Any]]] = {}
    for pub in broker.resolved_publishers():
        handlers.setdefault((id(pub.owner), pub.topic), (pub, []))
    for sub in subscribers:
        for plan, stacked in sub.handler_publishers():
            for pub in stacked:
                handlers.setdefault((id(pub.owner), pub.topic), (pub, []))[1].append(plan)
    for pub, plans in handlers.values():
        if pub.include_in_schema:
            yield pub, plans


def _addresses(sub: Subscriber) -> list[ChannelAddress]:
    """The channels a subscriber receives from: its topics, its pattern (with ``{name}``
    parameters), or the topics of its explicit partitions."""
    if sub.config.pattern is not None:
        return [pattern_address(sub.prefix + sub.config.pattern)]
    topics = sub.topics or tuple(dict.fromkeys(tp.topic for tp in sub.partitions))
    return [ChannelAddress(topic) for topic in topics]


def _retry_channels(sub: Subscriber) -> list[tuple[Action, str, str]]:
    """The retry topics a subscriber with ``retry=`` receives from (and writes to), and
    the dead-letter topic it writes to (``kafka/_retry.py``)."""
    retrier = sub.retrier
    if retrier is None:
        return []
    channels: list[tuple[Action, str, str]] = []
    for topic, names in retrier.retry_topics.items():
        for n, (name, delay) in enumerate(zip(names, retrier.delays, strict=True), 1):
            about = f"Retry {n} of {topic}: a failed message, handled again {delay:g} s later"
            channels.append(("receive", name, about))
    if retrier.dead_letter is not None:
        about = (
            f"Dead letters of {', '.join(sub.topics)}: messages that failed for good, with "
            "topicflow-original-topic/-partition/-offset, -attempts, -exception-type and "
            "-exception-message headers"
        )
        channels.append(("send", retrier.dead_letter, about))
    return channels


def _body_type(sub: Subscriber) -> Any:
    """The type of one message the subscriber accepts, or UNKNOWN.

    A batch subscriber's message is one record, not the list its handler receives.
    """
    plan = sub.plan
    if plan is None or plan.body_type is None:
        return UNKNOWN
    if sub.config.batch:
        (item,) = get_args(plan.body_type) or (Any,)
        return UNKNOWN if item is Any else item
    return plan.body_type


# -- collecting ------------------------------------------------------------------


@dataclass(slots=True)
class _Draft:
    """An operation before channels, messages and keys are settled."""

    action: Action
    address: ChannelAddress
    servers: tuple[str, ...]
    #: The handler's name ("" for a publisher used on its own).
    name: str
    payloads: list[int]
    #: Names a message whose payload is not one model.
    message_hint: str
    title: str | None = None
    description: str | None = None
    group_id: str | None = None
    client_id: str | None = None


@dataclass(slots=True)
class _Collector:
    multi_broker: bool
    servers: list[ServerInfo] = field(default_factory=list)
    drafts: list[_Draft] = field(default_factory=list)
    payloads: list[Payload] = field(default_factory=list)

    def payload(self, annotation: Any, mode: Any) -> int:
        self.payloads.append(Payload(annotation, mode))
        return len(self.payloads) - 1

    def add_broker(self, broker: KafkaBroker) -> None:
        security = broker_security(broker)
        hosts = broker.options.bootstrap_servers
        if isinstance(hosts, str):
            hosts = [host.strip() for host in hosts.split(",") if host.strip()]
        of_broker = f" of broker {broker.options.servers_text}" if self.multi_broker else ""
        keys: list[str] = []
        for host in hosts:
            key = f"kafka-{len(self.servers)}"
            keys.append(key)
            self.servers.append(
                ServerInfo(
                    key=key,
                    host=host,
                    protocol="kafka-secure" if security.tls else "kafka",
                    # KafkaBroker(description=...) describes its servers, as in FastStream.
                    description=broker.description or f"Kafka bootstrap server{of_broker}",
                    security=security.schemes,
                )
            )
        # Channels name their servers only when there is more than one cluster to tell apart.
        servers = tuple(keys) if self.multi_broker else ()
        client_id = broker.options.client_id

        subscribers = list(_subscribers(broker))
        for sub in subscribers:
            func = sub.plan.func if sub.plan is not None else None
            name = getattr(func, "__name__", "") if func is not None else ""
            body = self.payload(_body_type(sub), "validation")
            description = sub.description or (inspect.getdoc(func) if func is not None else None)
            for address in _addresses(sub):
                self.drafts.append(
                    _Draft(
                        action="receive",
                        address=address,
                        servers=servers,
                        name=name,
                        payloads=[body],
                        message_hint=f"{name or address.address}_message",
                        title=sub.title,
                        description=description,
                        group_id=sub.group_id,
                        client_id=client_id,
                    )
                )
            for action, topic, about in _retry_channels(sub):
                self.drafts.append(
                    _Draft(
                        action=action,
                        address=ChannelAddress(topic),
                        servers=servers,
                        name=name,
                        payloads=[body],
                        message_hint=f"{name or topic}_message",
                        description=about,
                        group_id=sub.group_id if action == "receive" else None,
                        client_id=client_id,
                    )
                )

        for pub, handlers in _publishers(broker, subscribers):
            name = handlers[0].func.__name__ if handlers else ""
            self.drafts.append(
                _Draft(
                    action="send",
                    address=ChannelAddress(pub.topic),
                    servers=servers,
                    name=name,
                    payloads=[self.payload(tp, "serialization") for tp in _sent(pub, handlers)],
                    message_hint=f"{name}_result" if name else f"{pub.topic}_message",
                    title=pub.title,
                    description=pub.description,
                    client_id=client_id,
                )
            )

    def finish(self, meta: AppMeta) -> AppInfo:
        described, schemas = payload_schemas(self.payloads)
        channels: dict[tuple[tuple[str, ...], str], ChannelInfo] = {}
        channel_keys: set[str] = set()
        messages: dict[str, MessageInfo] = {}
        operations: list[OperationInfo] = []
        operation_keys: set[str] = set()
        for draft in self.drafts:
            where = (draft.servers, draft.address.address)
            channel = channels.get(where)
            if channel is None:
                key = _unique(_safe_key(draft.address.address), channel_keys)
                channel = ChannelInfo(
                    key, draft.address.address, draft.address.parameters, draft.servers
                )
                channels[where] = channel
            used: list[str] = []
            for index in draft.payloads:
                schema = described[index]
                message = MessageInfo(
                    key="",
                    name=schema.model or _pascal(draft.message_hint),
                    payload=schema.schema,
                    content_type=schema.content_type,
                )
                message = _register(message, messages)
                if message not in channel.messages:
                    channel.messages.append(message)
                if message.key not in used:
                    used.append(message.key)
            base = f"{channel.key}.{draft.action}" + (f".{draft.name}" if draft.name else "")
            operations.append(
                OperationInfo(
                    key=_unique(base, operation_keys),
                    action=draft.action,
                    channel=channel.key,
                    messages=tuple(used),
                    title=draft.title,
                    description=draft.description,
                    group_id=draft.group_id,
                    client_id=draft.client_id,
                )
            )
        return AppInfo(
            meta=meta,
            servers=self.servers,
            channels=list(channels.values()),
            operations=operations,
            schemas=schemas,
        )


def collect(source: App | AsyncAPI) -> AppInfo:
    """Read ``source`` once into the neutral model both AsyncAPI versions are written from.

    An App is documented through its specification (``App(specification=AsyncAPI(...))``,
    or the one made of its ``title``, ``version``, ... arguments): its brokers and what
    describes the service.
    """
    spec = cast("AsyncAPI", getattr(source, "schema", source))
    collector = _Collector(multi_broker=len(spec.brokers) > 1)
    for broker in spec.brokers:
        collector.add_broker(broker)
    return collector.finish(spec.meta())


def _sent(pub: DefaultPublisher, handlers: list[Any]) -> list[Any]:
    """What ``pub`` publishes: its ``schema=``, else its handlers' return types."""
    if pub.schema is not None:
        return [pub.schema]
    found: list[Any] = []
    for plan in handlers:
        for annotation in _published(plan.return_type):
            if annotation not in found:
                found.append(annotation)
    return found or [UNKNOWN]


def _published(annotation: Any) -> list[Any]:
    """The type a handler's return annotation publishes; a returned None publishes nothing."""
    if annotation is None or annotation is type(None):
        return []
    if get_origin(annotation) in (Union, types.UnionType):
        args = [arg for arg in get_args(annotation) if arg is not type(None)]
        return [functools.reduce(operator.or_, args)] if args else []
    return [annotation]


def _register(message: MessageInfo, messages: dict[str, MessageInfo]) -> MessageInfo:
    """The one message of this name and content, adding it (under a unique key) if new."""
    base = _safe_key(message.name)
    key, n = base, 1
    while key in messages:
        known = messages[key]
        if (known.payload, known.content_type) == (message.payload, message.content_type):
            return known
        n += 1
        key = f"{base}{n}"
    registered = MessageInfo(key, message.name, message.payload, message.content_type)
    messages[key] = registered
    return registered


def _safe_key(text: str) -> str:
    """``text`` as a component key: AsyncAPI allows letters, digits, ``.``, ``-`` and ``_``."""
    return re.sub(r"[^\w.\-]", "_", text) or "_"


def _unique(base: str, taken: set[str]) -> str:
    key, n = base, 1
    while key in taken:
        n += 1
        key = f"{base}.{n}"
    taken.add(key)
    return key


def _pascal(text: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[^A-Za-z0-9]+", text))
