"""One self-contained HTML page of an AsyncAPI 3.0.0 document.

Rendered on the server, with the styles inline and no script at all: the page
loads nothing from anywhere, so it works on an air-gapped network and in a
plain file. It shows the servers, every channel with its operations, and each
message's payload as a tree of fields (type, required or not), with nested
models expanded where they are used.
"""

from __future__ import annotations

import json
from html import escape
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["DEFAULT_LINKS", "render_html"]

#: Raw documents the page links to: (label, relative URL).
DEFAULT_LINKS: tuple[tuple[str, str], ...] = (("JSON", "asyncapi.json"), ("YAML", "asyncapi.yaml"))

#: How deep nested models are expanded; deeper ones are named, not shown.
_MAX_DEPTH = 8


def render_html(
    document: dict[str, Any], *, links: Sequence[tuple[str, str]] = DEFAULT_LINKS
) -> str:
    """The HTML page of a 3.0.0 ``document``, linking to the raw documents in ``links``."""
    if document.get("asyncapi") != "3.0.0":
        raise ValueError(
            f"render_html needs an AsyncAPI 3.0.0 document, got {document.get('asyncapi')!r}; "
            "build it with build_document(app) (3.0.0 is the default)"
        )
    return _Page(document).render(links)


class _Page:
    def __init__(self, document: dict[str, Any]) -> None:
        self.doc = document

    def resolve(self, node: Any) -> Any:
        """Follow local ``$ref``s (``#/a/b``) until a real object is reached."""
        seen: set[str] = set()
        while isinstance(node, dict) and isinstance(node.get("$ref"), str):
            ref = node["$ref"]
            if ref in seen or not ref.startswith("#/"):
                return {}
            seen.add(ref)
            target: Any = self.doc
            for part in ref[2:].split("/"):
                part = part.replace("~1", "/").replace("~0", "~")
                target = target.get(part, {}) if isinstance(target, dict) else {}
            node = target
        return node

    # -- page ------------------------------------------------------------------

    def render(self, links: Sequence[tuple[str, str]]) -> str:
        info = self.doc.get("info", {})
        title = str(info.get("title", "AsyncAPI"))
        channels = self.doc.get("channels", {})
        body = [
            self.header(info, links),
            '<div class="layout">',
            self.toc(channels),
            "<main>",
            self.servers(),
            '<section id="channels"><h2>Channels</h2>',
            *(self.channel(key, channel) for key, channel in channels.items()),
            "" if channels else '<p class="muted">No channels.</p>',
            "</section></main></div>",
        ]
        return (
            "<!DOCTYPE html>\n"
            '<html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{escape(title)} · AsyncAPI</title><style>{_CSS}</style></head>"
            f"<body>{''.join(body)}</body></html>\n"
        )

    def header(self, info: dict[str, Any], links: Sequence[tuple[str, str]]) -> str:
        tags = "".join(
            f'<span class="tag" title="{escape(tag.get("description", ""))}">'
            f"{escape(tag.get('name', ''))}</span>"
            for tag in info.get("tags", [])
        )
        raw = " · ".join(f'<a href="{escape(url)}">{escape(label)}</a>' for label, url in links)
        return (
            "<header>"
            f"<h1>{escape(str(info.get('title', '')))} "
            f'<span class="version">{escape(str(info.get("version", "")))}</span></h1>'
            f"{_text(info.get('description'))}"
            f"{_wrap('div', 'tags', tags)}"
            f'<p class="raw">AsyncAPI {escape(str(self.doc.get("asyncapi")))} · {raw}</p>'
            "</header>"
        )

    def toc(self, channels: dict[str, Any]) -> str:
        items = "".join(
            f'<li><a href="#channel-{escape(key)}">{escape(str(ch.get("address", key)))}</a></li>'
            for key, ch in channels.items()
        )
        return (
            '<nav><a href="#servers">Servers</a><a href="#channels">Channels</a>'
            f"<ul>{items}</ul></nav>"
        )

    def servers(self) -> str:
        servers = self.doc.get("servers", {})
        rows = []
        for key, server in servers.items():
            schemes = [self.resolve(s) for s in server.get("security", [])]
            security = ", ".join(str(s.get("type", "?")) for s in schemes) or "none"
            rows.append(
                f'<tr data-server="{escape(key)}"><td>{escape(key)}</td>'
                f"<td><code>{escape(str(server.get('host', '')))}</code></td>"
                f"<td>{escape(str(server.get('protocol', '')))}</td>"
                f"<td>{escape(security)}</td>"
                f"<td>{escape(str(server.get('description', '')))}</td></tr>"
            )
        table = (
            "<table><thead><tr><th>Name</th><th>Host</th><th>Protocol</th><th>Security</th>"
            f"<th>Description</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
            if rows
            else '<p class="muted">No servers.</p>'
        )
        return f'<section id="servers"><h2>Servers</h2>{table}</section>'

    # -- channels and operations -------------------------------------------------

    def channel(self, key: str, channel: dict[str, Any]) -> str:
        address = str(channel.get("address", key))
        params = channel.get("parameters", {})
        param_html = (
            '<dl class="params">'
            + "".join(
                f"<dt><code>{{{escape(name)}}}</code></dt>"
                f"<dd>{escape(str(self.resolve(p).get('description', '')))}</dd>"
                for name, p in params.items()
            )
            + "</dl>"
            if params
            else ""
        )
        ops = [
            self.operation(op_key, op)
            for op_key, op in self.doc.get("operations", {}).items()
            if op.get("channel", {}).get("$ref") == f"#/channels/{key}"
        ]
        # Each message once per channel, however many operations use it.
        messages = [
            self.message(f"{key}-{msg_key}", self.resolve(message))
            for msg_key, message in channel.get("messages", {}).items()
        ]
        return (
            f'<article class="channel" id="channel-{escape(key)}" '
            f'data-channel="{escape(address)}">'
            f'<h3><span class="label">channel</span> <code>{escape(address)}</code></h3>'
            f"{_text(channel.get('description'))}{param_html}{''.join(ops)}"
            f"{''.join(messages)}</article>"
        )

    def operation(self, key: str, op: dict[str, Any]) -> str:
        action = str(op.get("action", ""))
        binding = op.get("bindings", {}).get("kafka", {})
        facts = []
        for label, field in (("group id", "groupId"), ("client id", "clientId")):
            values = binding.get(field, {}).get("enum")
            if values:
                facts.append(f"{label}: <code>{escape(', '.join(map(str, values)))}</code>")
        names = []
        for ref in op.get("messages", []):
            # "#/channels/<channel>/messages/<message>": link to the channel's copy.
            parts = str(ref.get("$ref", "")).split("/")
            anchor = f"msg-{parts[2]}-{parts[-1]}" if len(parts) == 5 else ""
            name = self.resolve(ref).get("name", parts[-1])
            names.append(f'<a href="#{escape(anchor)}">{escape(str(name))}</a>')
        if names:
            facts.append("message: " + ", ".join(names))
        title = op.get("title")
        return (
            f'<div class="operation {escape(action)}" data-operation="{escape(key)}">'
            f'<div class="op-head"><span class="badge {escape(action)}">{escape(action)}</span> '
            f'<span class="op-id">{escape(key)}</span>'
            f"{_wrap('span', 'op-title', escape(title) if title else '')}</div>"
            f"{_text(op.get('description'))}"
            f"{_wrap('p', 'facts', ' · '.join(facts))}</div>"
        )

    def message(self, anchor: str, message: dict[str, Any]) -> str:
        payload = message.get("payload", {})
        name = str(message.get("name", message.get("title", "message")))
        content_type = message.get("contentType") or self.doc.get("defaultContentType", "")
        correlation = message.get("correlationId", {}).get("location", "")
        meta = f"<code>{escape(str(content_type))}</code>"
        if correlation:
            meta += f" · correlation id at <code>{escape(correlation)}</code>"
        return (
            f'<div class="message" id="msg-{escape(anchor)}" data-message="{escape(name)}">'
            f'<div class="msg-head"><span class="label">message</span> <b>{escape(name)}</b>'
            f'<span class="meta">{meta}</span></div>'
            f"{_text(message.get('description'))}"
            f'<div class="payload"><span class="label">payload</span> '
            f'<span class="type">{escape(self.type_of(payload))}</span>'
            f"{_text(self.resolve(payload).get('description'))}"
            f"{self.fields(payload, '', 0, ())}</div></div>"
        )

    # -- payload trees -----------------------------------------------------------

    def type_of(self, schema: Any) -> str:
        """A short type label: ``integer``, ``string (date-time)``, ``array of Item``, ..."""
        if not isinstance(schema, dict) or not schema:
            return "any"
        ref = schema.get("$ref")
        if isinstance(ref, str):
            return ref.rsplit("/", 1)[-1]
        for union in ("anyOf", "oneOf"):
            if union in schema:
                return " | ".join(self.type_of(s) for s in schema[union])
        if "allOf" in schema:
            return " & ".join(self.type_of(s) for s in schema["allOf"])
        if "const" in schema:
            return f"const {_json(schema['const'])}"
        if "enum" in schema:
            return "enum"
        kind = schema.get("type", "any")
        if isinstance(kind, list):
            kind = " | ".join(map(str, kind))
        if kind == "array":
            if "prefixItems" in schema:
                return f"tuple[{', '.join(self.type_of(s) for s in schema['prefixItems'])}]"
            return f"array of {self.type_of(schema.get('items', {}))}"
        if kind == "object" and "properties" not in schema:
            extra = schema.get("additionalProperties")
            return f"map of {self.type_of(extra)}" if isinstance(extra, dict) else "object"
        fmt = schema.get("format")
        return f"{kind} ({fmt})" if fmt else str(kind)

    def fields(self, schema: Any, path: str, depth: int, models: tuple[str, ...]) -> str:
        """The fields inside ``schema``, nested models expanded (each once per branch)."""
        if not isinstance(schema, dict) or depth > _MAX_DEPTH:
            return ""
        ref = schema.get("$ref")
        if isinstance(ref, str):
            model = ref.rsplit("/", 1)[-1]
            if model in models:
                return f'<p class="muted recursive">{escape(model)}: as above (recursive)</p>'
            return self.fields(self.resolve(schema), path, depth, (*models, model))
        for union in ("anyOf", "oneOf", "allOf"):
            if union in schema:
                return "".join(self.fields(s, path, depth, models) for s in schema[union])
        if schema.get("type") == "array":
            items = schema.get("prefixItems") or [schema.get("items", {})]
            return "".join(self.fields(s, f"{path}[]", depth, models) for s in items)
        if isinstance(schema.get("additionalProperties"), dict) and "properties" not in schema:
            return self.fields(schema["additionalProperties"], f"{path}{{}}", depth, models)
        properties = schema.get("properties")
        if not isinstance(properties, dict) or not properties:
            return ""
        required = set(schema.get("required", []))
        rows = [
            self.field(
                name, prop, name in required, f"{path}.{name}" if path else name, depth, models
            )
            for name, prop in properties.items()
        ]
        return f'<ul class="fields">{"".join(rows)}</ul>'

    def field(
        self,
        name: str,
        prop: dict[str, Any],
        required: bool,
        path: str,
        depth: int,
        models: tuple[str, ...],
    ) -> str:
        resolved = self.resolve(prop)
        notes = []
        enum = prop.get("enum", resolved.get("enum"))
        if enum:
            notes.append("one of " + ", ".join(f"<code>{escape(_json(v))}</code>" for v in enum))
        if "default" in prop:
            notes.append(f"default <code>{escape(_json(prop['default']))}</code>")
        description = prop.get("description") or resolved.get("description")
        flag = (
            '<span class="req">required</span>' if required else '<span class="opt">optional</span>'
        )
        return (
            f'<li class="field" data-field="{escape(path)}">'
            f'<code class="name">{escape(name)}</code> '
            f'<span class="type">{escape(self.type_of(prop))}</span> {flag}'
            f"{_wrap('span', 'notes', '; '.join(notes))}"
            f"{_wrap('div', 'desc', escape(str(description)) if description else '')}"
            f"{self.fields(prop, path, depth + 1, models)}</li>"
        )


def _wrap(tag: str, css_class: str, inner: str) -> str:
    """``inner`` (already escaped) in a ``tag`` of ``css_class``; nothing when it is empty."""
    return f'<{tag} class="{css_class}">{inner}</{tag}>' if inner else ""


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _text(value: Any) -> str:
    """A description as a paragraph; line breaks kept, nothing interpreted as markup."""
    return f'<p class="desc">{escape(str(value))}</p>' if value else ""


_CSS = """
*{box-sizing:border-box}
body{margin:0;font:15px/1.5 -apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;
color:#1f2933;background:#f4f6f8}
code{font:13px ui-monospace,SFMono-Regular,Menlo,Consolas,"Liberation Mono",monospace}
header{background:#1f2a37;color:#f5f7fa;padding:24px 40px}
header h1{margin:0 0 6px;font-size:26px}
header .version{font-size:14px;font-weight:normal;background:#3e4c59;border-radius:10px;
padding:2px 10px;vertical-align:middle}
header .desc{margin:6px 0;color:#cbd2d9;max-width:900px}
header a{color:#9fd3ff}
.raw{margin:10px 0 0;font-size:13px;color:#9aa5b1}
.tags{margin-top:8px}
.tag{display:inline-block;background:#334e68;color:#f0f4f8;border-radius:4px;padding:1px 8px;
margin-right:6px;font-size:12px}
.layout{display:flex;align-items:flex-start;gap:24px;padding:24px 40px}
nav{position:sticky;top:16px;min-width:200px;max-width:260px;background:#fff;border-radius:8px;
padding:12px 16px;box-shadow:0 1px 3px rgba(0,0,0,.08)}
nav>a{display:block;font-weight:600;color:#1f2933;text-decoration:none;margin:4px 0}
nav ul{list-style:none;margin:4px 0 0;padding:0 0 0 8px;font-size:13px}
nav li a{color:#486581;text-decoration:none;word-break:break-all}
main{flex:1;min-width:0}
h2{margin:0 0 12px;font-size:20px}
section{margin-bottom:28px}
table{border-collapse:collapse;width:100%;background:#fff;border-radius:8px;overflow:hidden;
box-shadow:0 1px 3px rgba(0,0,0,.08)}
th,td{text-align:left;padding:8px 12px;border-bottom:1px solid #e4e7eb;font-size:14px}
th{background:#f0f4f8;font-weight:600}
.channel{background:#fff;border-radius:8px;padding:16px 20px;margin-bottom:18px;
box-shadow:0 1px 3px rgba(0,0,0,.08)}
.channel h3{margin:0 0 10px;font-size:18px}
.channel h3 code{font-size:17px}
.label{font-size:11px;text-transform:uppercase;letter-spacing:.06em;color:#7b8794;
font-weight:600}
.params{margin:0 0 10px;font-size:14px}
.params dt{float:left;margin-right:8px}
.operation{border-left:4px solid #9aa5b1;padding:8px 0 8px 14px;margin:12px 0}
.operation.receive{border-color:#2f9e44}
.operation.send{border-color:#1c7ed6}
.op-head{display:flex;align-items:center;gap:10px;flex-wrap:wrap}
.badge{font-size:12px;font-weight:700;text-transform:uppercase;color:#fff;border-radius:4px;
padding:1px 8px}
.badge.receive{background:#2f9e44}
.badge.send{background:#1c7ed6}
.op-id{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:13px;color:#52606d}
.op-title{font-weight:600}
.desc{white-space:pre-line;margin:6px 0;color:#3e4c59}
.facts{margin:4px 0;font-size:13px;color:#52606d}
.message{background:#f8fafc;border:1px solid #e4e7eb;border-radius:6px;padding:10px 14px;
margin-top:8px}
.msg-head{display:flex;align-items:baseline;gap:8px;flex-wrap:wrap}
.meta{font-size:12px;color:#7b8794}
.payload{margin-top:6px}
.type{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:13px;color:#8e24aa}
.fields{list-style:none;margin:4px 0 0;padding:0 0 0 14px;border-left:1px dashed #cbd2d9}
.field{margin:5px 0}
.field .name{font-weight:600;color:#102a43}
.req,.opt{font-size:11px;border-radius:3px;padding:0 5px;margin-left:4px}
.req{background:#ffe3e3;color:#c92a2a}
.opt{background:#e4e7eb;color:#52606d}
.notes{font-size:12px;color:#616e7c;margin-left:8px}
.field .desc{font-size:13px;margin:2px 0}
.muted{color:#7b8794;font-size:13px}
"""
