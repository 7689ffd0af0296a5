"""Write an :class:`AppInfo` as an AsyncAPI 3.0.0 or 2.6.0 document (a JSON-ready dict).

The two versions say the same things in different shapes:

================  ==================================  =====================================
                  3.0.0                               2.6.0
================  ==================================  =====================================
channel           ``channels.<key>.address``          ``channels.<address>``
subscriber        ``operations.<key>``, ``receive``   the channel's ``publish`` operation
publisher         ``operations.<key>``, ``send``      the channel's ``subscribe`` operation
title             operation ``title``                 operation ``summary``
app tags          ``info.tags``                       top-level ``tags``
external docs     ``info.externalDocs``               top-level ``externalDocs``
server address    ``host``                            ``url``
================  ==================================  =====================================

(2.x names operations from the point of view of the *other* side: "publish"
means other applications publish to this one, so it is what a subscriber does.)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, get_args

if TYPE_CHECKING:
    from topicflow.asyncapi._model import (
        AppInfo,
        AppMeta,
        ChannelInfo,
        MessageInfo,
        OperationInfo,
        TagInfo,
    )

__all__ = ["DEFAULT_VERSION", "AsyncAPIVersion", "render", "versions"]

AsyncAPIVersion = Literal["3.0.0", "2.6.0"]
DEFAULT_VERSION: AsyncAPIVersion = "3.0.0"

#: The Kafka bindings version each document version is checked against.
_BINDING_VERSION: dict[str, str] = {"3.0.0": "0.5.0", "2.6.0": "0.4.0"}

#: The headers topicflow publishes with (see the wire format in the docs).
_HEADERS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "correlation_id": {
            "type": "string",
            "description": "Ties a reply, and what a handler publishes, to the message "
            "that caused it. Generated when the publisher gives none.",
        },
        "reply_to": {
            "type": "string",
            "description": "The topic the handler's return value is sent to.",
        },
        "content-type": {
            "type": "string",
            "description": "application/json, text/plain, or absent for raw bytes.",
        },
    },
}
_CORRELATION_ID: dict[str, Any] = {
    "description": "The correlation_id header, kept by replies and by what a handler publishes.",
    "location": "$message.header#/correlation_id",
}


def versions() -> tuple[AsyncAPIVersion, ...]:
    """The AsyncAPI versions topicflow writes, the default first."""
    return get_args(AsyncAPIVersion)


def render(info: AppInfo, version: AsyncAPIVersion = DEFAULT_VERSION) -> dict[str, Any]:
    """The AsyncAPI document of ``info`` in ``version``."""
    if version == "3.0.0":
        return _render_3(info)
    if version == "2.6.0":
        return _render_2(info)
    raise ValueError(f"AsyncAPI {version!r} is not supported; use one of {', '.join(versions())}")


# -- 3.0.0 -------------------------------------------------------------------------


def _render_3(info: AppInfo) -> dict[str, Any]:
    doc: dict[str, Any] = {"asyncapi": "3.0.0", "info": _info(info.meta, v3=True)}
    if info.meta.identifier:
        doc["id"] = info.meta.identifier
    doc["defaultContentType"] = "application/json"
    if info.servers:
        doc["servers"] = {
            server.key: _drop_empty(
                {
                    "host": server.host,
                    "protocol": server.protocol,
                    "description": server.description,
                    "security": [
                        {"$ref": f"#/components/securitySchemes/{scheme.key}"}
                        for scheme in server.security
                    ],
                }
            )
            for server in info.servers
        }
    doc["channels"] = {channel.key: _channel_3(channel) for channel in info.channels}
    doc["operations"] = {op.key: _operation_3(op) for op in info.operations}
    doc["components"] = _components(info)
    return doc


def _channel_3(channel: ChannelInfo) -> dict[str, Any]:
    return _drop_empty(
        {
            "address": channel.address,
            "messages": {
                message.key: {"$ref": f"#/components/messages/{message.key}"}
                for message in channel.messages
            },
            "parameters": {
                name: {"description": f"The {{{name}}} part of the topic name."}
                for name in channel.parameters
            },
            "servers": [{"$ref": f"#/servers/{key}"} for key in channel.servers],
        }
    )


def _operation_3(op: OperationInfo) -> dict[str, Any]:
    return _drop_empty(
        {
            "action": op.action,
            "channel": {"$ref": f"#/channels/{op.channel}"},
            "title": op.title,
            "description": op.description,
            "messages": [
                {"$ref": f"#/channels/{op.channel}/messages/{key}"} for key in op.messages
            ],
            "bindings": {"kafka": _kafka_binding([op], "3.0.0")},
        }
    )


# -- 2.6.0 -------------------------------------------------------------------------


def _render_2(info: AppInfo) -> dict[str, Any]:
    meta = info.meta
    doc: dict[str, Any] = {"asyncapi": "2.6.0", "info": _info(meta, v3=False)}
    if meta.identifier:
        doc["id"] = meta.identifier
    if meta.tags:
        doc["tags"] = [_tag(tag) for tag in meta.tags]
    if meta.external_docs:
        doc["externalDocs"] = meta.external_docs
    doc["defaultContentType"] = "application/json"
    if info.servers:
        doc["servers"] = {
            server.key: _drop_empty(
                {
                    "url": server.host,
                    "protocol": server.protocol,
                    "description": server.description,
                    "security": [{scheme.key: []} for scheme in server.security],
                }
            )
            for server in info.servers
        }
    # 2.x keys channels by address: channels of one address on two clusters become one.
    by_address: dict[str, list[ChannelInfo]] = {}
    for channel in info.channels:
        by_address.setdefault(channel.address, []).append(channel)
    doc["channels"] = {
        address: _channel_2(channels, info.operations) for address, channels in by_address.items()
    }
    doc["components"] = _components(info)
    return doc


def _channel_2(channels: list[ChannelInfo], operations: list[OperationInfo]) -> dict[str, Any]:
    keys = {channel.key for channel in channels}
    servers = list(dict.fromkeys(key for channel in channels for key in channel.servers))
    item: dict[str, Any] = {}
    if servers:
        item["servers"] = servers
    parameters = dict.fromkeys(name for channel in channels for name in channel.parameters)
    if parameters:
        item["parameters"] = {
            name: {
                "description": f"The {{{name}}} part of the topic name.",
                "schema": {"type": "string"},
            }
            for name in parameters
        }
    # A 2.x channel holds one operation per direction: several subscribers of a
    # topic (say, two consumer groups) are described together.
    for action, field in (("receive", "publish"), ("send", "subscribe")):
        ops = [op for op in operations if op.channel in keys and op.action == action]
        if ops:
            item[field] = _operation_2(ops, f"{channels[0].key}.{action}")
    return item


def _operation_2(ops: list[OperationInfo], merged_id: str) -> dict[str, Any]:
    messages = list(dict.fromkeys(key for op in ops for key in op.messages))
    refs = [{"$ref": f"#/components/messages/{key}"} for key in messages]
    return _drop_empty(
        {
            "operationId": ops[0].key if len(ops) == 1 else merged_id,
            "summary": "; ".join(op.title for op in ops if op.title),
            "description": _merged_descriptions(ops),
            "bindings": {"kafka": _kafka_binding(ops, "2.6.0")},
            "message": refs[0] if len(refs) == 1 else {"oneOf": refs},
        }
    )


def _merged_descriptions(ops: list[OperationInfo]) -> str:
    if len(ops) == 1:
        return ops[0].description or ""
    # Several subscribers in one operation: say whose description is whose.
    return "\n\n".join(f"{op.title or op.key}: {op.description}" for op in ops if op.description)


# -- shared ------------------------------------------------------------------------


def _info(meta: AppMeta, *, v3: bool) -> dict[str, Any]:
    """The ``info`` object; 3.0.0 moved tags and external docs into it."""
    fields: dict[str, Any] = {
        "title": meta.title,
        "version": meta.version,
        "description": meta.description,
        "termsOfService": meta.terms_of_service,
        "contact": meta.contact,
        "license": meta.license,
    }
    if v3:
        fields["tags"] = [_tag(tag) for tag in meta.tags]
        fields["externalDocs"] = meta.external_docs
    return _drop_empty(fields)


def _tag(tag: TagInfo) -> dict[str, Any]:
    return _drop_empty(
        {"name": tag.name, "description": tag.description, "externalDocs": tag.external_docs}
    )


def _kafka_binding(ops: list[OperationInfo], version: str) -> dict[str, Any]:
    """Kafka operation binding; group and client ids are schemas, so several fit in an enum."""
    binding: dict[str, Any] = {}
    groups = sorted({op.group_id for op in ops if op.group_id is not None})
    if groups:
        binding["groupId"] = {"type": "string", "enum": groups}
    clients = sorted({op.client_id for op in ops if op.client_id is not None})
    if clients:
        binding["clientId"] = {"type": "string", "enum": clients}
    binding["bindingVersion"] = _BINDING_VERSION[version]
    return binding


def _components(info: AppInfo) -> dict[str, Any]:
    messages: dict[str, MessageInfo] = {}
    for channel in info.channels:
        for message in channel.messages:
            messages.setdefault(message.key, message)
    schemes = {scheme.key: scheme for server in info.servers for scheme in server.security}
    return _drop_empty(
        {
            "schemas": info.schemas,
            "messages": {key: _message(message) for key, message in messages.items()},
            "securitySchemes": {
                key: _drop_empty({"type": scheme.type, "description": scheme.description})
                for key, scheme in schemes.items()
            },
        }
    )


def _message(message: MessageInfo) -> dict[str, Any]:
    # No 2.x ``messageId``: the parser requires it to be unique per use, and a
    # message shared by two channels (one model, two topics) is used twice.
    fields = _drop_empty(
        {
            "name": message.name,
            "title": message.name,
            "contentType": message.content_type,
        }
    )
    # Kept even when empty: ``{}`` says "any payload", which is what is known.
    fields["payload"] = message.payload
    fields["headers"] = _HEADERS
    fields["correlationId"] = _CORRELATION_ID
    return fields


def _drop_empty(fields: dict[str, Any]) -> dict[str, Any]:
    """Leave out fields that say nothing (None, "", [] or {}), as the spec prefers."""
    return {key: value for key, value in fields.items() if value not in (None, "", [], {})}
