"""DID metadata: free key/values, stored as text plus a number so filters can compare either way."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, delete, insert, select

from lake.core.errors import InvalidInput
from lake.db import schema as t

_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]{0,254}$")
RESERVED = {"name", "type", "scope"}


def text_of(value: Any) -> str:
    """The canonical text form used for equality and wildcard matching."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def number_of(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(str(value))
    except ValueError:
        return None


def meta_rows(scope: str, name: str, values: Mapping[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for key, value in values.items():
        if not _KEY.match(key) or key in RESERVED:
            raise InvalidInput(f"invalid metadata key '{key}'")
        if isinstance(value, dict | list):
            raise InvalidInput(f"metadata '{key}' must be a string, number or boolean")
        rows.append(
            {
                "scope": scope,
                "name": name,
                "key": key,
                "value": text_of(value),
                "value_num": number_of(value),
                "value_json": value,
            }
        )
    return rows


def set_meta(conn: Connection, scope: str, name: str, values: Mapping[str, Any]) -> None:
    rows = meta_rows(scope, name, values)
    if not rows:
        return
    conn.execute(
        delete(t.did_meta).where(
            t.did_meta.c.scope == scope, t.did_meta.c.name == name, t.did_meta.c.key.in_(list(values))
        )
    )
    conn.execute(insert(t.did_meta), rows)


def get_meta(conn: Connection, scope: str, name: str) -> dict[str, Any]:
    query = select(t.did_meta.c.key, t.did_meta.c.value_json).where(
        t.did_meta.c.scope == scope, t.did_meta.c.name == name
    )
    return {key: value for key, value in conn.execute(query.order_by(t.did_meta.c.key))}
