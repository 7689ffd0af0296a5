"""Documents as JSON and YAML text."""

from __future__ import annotations

import json
from typing import Any

import yaml

__all__ = ["to_json", "to_yaml"]


def to_json(document: dict[str, Any]) -> str:
    """``document`` as indented JSON text, ending with a newline."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


class _PlainDumper(yaml.SafeDumper):
    """A safe dumper that writes shared objects out in full.

    The documents reuse dicts (every message has the same header schema);
    PyYAML would turn those into ``&id001`` anchors, which are valid YAML but
    opaque to a reader and to tools that expect a plain tree.
    """

    def ignore_aliases(self, data: Any) -> bool:
        return True


def to_yaml(document: dict[str, Any]) -> str:
    """``document`` as block-style YAML, keys in the document's order."""
    text: str = yaml.dump(
        document,
        Dumper=_PlainDumper,
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
        width=100,
    )
    return text
