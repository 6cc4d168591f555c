"""Events: every state change of rules, locks, transfers and deletions, recorded in the database.

The monitoring issue reads them (efficiency matrix, throughput, errors); daemons and logic only append.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select

from lake.core.clock import utcnow
from lake.core.replication import EventOut
from lake.db.bulk import insert_rows
from lake.db.schema_replication import events

FIELDS = (
    "scope",
    "name",
    "rule_id",
    "transfer_id",
    "source_rse",
    "dest_rse",
    "bytes",
    "duration",
    "activity",
    "error_category",
    "message",
    "payload",
)


def event_row(kind: str, **fields: Any) -> dict[str, Any]:
    unknown = set(fields) - set(FIELDS)
    if unknown:
        raise ValueError(f"unknown event fields: {sorted(unknown)}")
    return {"kind": kind, "created_at": utcnow(), **{key: fields.get(key) for key in FIELDS}}


def record(conn: Connection, kind: str, **fields: Any) -> None:
    conn.execute(insert(events), [event_row(kind, **fields)])


def record_many(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Append many events built with `event_row` (same keys each) in one bulk insert (COPY on PostgreSQL)."""
    insert_rows(conn, events, rows)


def list_events(
    conn: Connection, kind: str | None = None, rule_id: str | None = None, since_id: int = 0, limit: int | None = None
) -> Iterator[EventOut]:
    query = select(events).where(events.c.id > since_id).order_by(events.c.id)
    if kind:
        query = query.where(events.c.kind.like(kind.replace("*", "%")))
    if rule_id:
        query = query.where(events.c.rule_id == rule_id)
    if limit:
        query = query.limit(limit)
    for row in conn.execute(query):
        yield EventOut(**{k: getattr(row, k) for k in EventOut.model_fields})


def link_times(conn: Connection, kind: str, since: datetime) -> list[tuple[str, str, datetime]]:
    """(source RSE, destination RSE, time) of the events of `kind` since `since` that name both ends."""
    e = events.c
    query = select(e.source_rse, e.dest_rse, e.created_at).where(
        e.kind == kind, e.created_at >= since, e.source_rse.is_not(None), e.dest_rse.is_not(None)
    )
    return [(row.source_rse, row.dest_rse, row.created_at) for row in conn.execute(query)]
