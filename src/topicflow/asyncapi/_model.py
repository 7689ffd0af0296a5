"""What the documentation says about an app, before it is written as AsyncAPI.

:func:`~topicflow.asyncapi._collect.collect` reads an :class:`~topicflow.App`
into these plain objects once; the 3.0.0 and 2.6.0 writers in ``_render`` only
arrange them. Keeping the two apart means a new runtime feature (routers,
patterns, security) is taught to the collector alone, and both versions follow.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "AppInfo",
    "AppMeta",
    "ChannelInfo",
    "MessageInfo",
    "OperationInfo",
    "SecurityScheme",
    "ServerInfo",
    "TagInfo",
]

Action = Literal["send", "receive"]


@dataclass(frozen=True, slots=True)
class TagInfo:
    """A tag of the app: a name and an optional description."""

    name: str
    description: str = ""
    #: ``{"url": ..., "description": ...}``, or None.
    external_docs: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class AppMeta:
    """What describes the service as a whole (``info``, ``id``, tags, links).

    The optional mappings are already in the document's own shape (``externalDocs``).
    """

    title: str
    version: str
    description: str = ""
    tags: tuple[TagInfo, ...] = ()
    terms_of_service: str | None = None
    contact: dict[str, Any] | None = None
    license: dict[str, Any] | None = None
    external_docs: dict[str, Any] | None = None
    #: The document's ``id`` (a URI naming the application).
    identifier: str | None = None


@dataclass(frozen=True, slots=True)
class SecurityScheme:
    """One way a client authenticates, in AsyncAPI's words.

    Attributes:
        key: the name under ``components/securitySchemes``.
        type: the AsyncAPI scheme type: ``plain``, ``scramSha256``, ``scramSha512``,
            ``gssapi``, ``oauth2`` or ``X509``.
        description: shown next to the scheme.
    """

    key: str
    type: str
    description: str = ""


@dataclass(frozen=True, slots=True)
class ServerInfo:
    """One bootstrap server of a broker."""

    key: str
    host: str
    #: ``kafka``, or ``kafka-secure`` when the connection uses TLS.
    protocol: str
    description: str = ""
    security: tuple[SecurityScheme, ...] = ()


@dataclass(frozen=True, slots=True)
class MessageInfo:
    """A message: its payload schema (``$ref``s point into the app's schemas)."""

    key: str
    name: str
    payload: dict[str, Any]
    #: None: the document's default, ``application/json``.
    content_type: str | None = None


@dataclass(slots=True)
class ChannelInfo:
    """A topic (or a topic pattern) and every message seen on it."""

    key: str
    #: The real topic, after prefixes; ``{name}`` marks a pattern's placeholder.
    address: str
    #: Names of the ``{name}`` placeholders in ``address``.
    parameters: tuple[str, ...] = ()
    #: Keys of the servers the channel lives on; empty when the app has one broker.
    servers: tuple[str, ...] = ()
    messages: list[MessageInfo] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class OperationInfo:
    """A subscriber receiving from, or a publisher sending to, one channel."""

    key: str
    action: Action
    channel: str
    messages: tuple[str, ...]
    title: str | None = None
    description: str | None = None
    group_id: str | None = None
    client_id: str | None = None


@dataclass(slots=True)
class AppInfo:
    """Everything the documents are written from."""

    meta: AppMeta
    servers: list[ServerInfo]
    channels: list[ChannelInfo]
    operations: list[OperationInfo]
    #: JSON Schemas of the payloads' models, by name (``components/schemas``).
    schemas: dict[str, Any]
