"""Pure argument parsing for the CLI: `SCOPE:NAME`, `key=value` pairs and their values."""

from __future__ import annotations

import json
from typing import Any


def parse_did(text: str, default_scope: str | None = None) -> tuple[str, str]:
    """Split `SCOPE:NAME` at the first colon; a bare NAME takes `default_scope` when one is given."""
    scope, sep, name = text.partition(":")
    if not sep:
        scope, name = default_scope or "", text
    if not scope or not name:
        raise ValueError(f"expected SCOPE:NAME, got {text!r}")
    return scope, name


def parse_value(text: str) -> Any:
    """A JSON value when the text is one (`100`, `true`, `[1,2]`), else the text itself."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def parse_pairs(items: list[str] | None) -> dict[str, Any]:
    """`['run=100', 'kind=raw']` -> `{'run': 100, 'kind': 'raw'}`."""
    result: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ValueError(f"expected KEY=VALUE, got {item!r}")
        result[key] = parse_value(value)
    return result
