"""The `updated_dids` table's owner: the rule evaluator's work queue of DIDs whose content changed.

A module of its own rather than part of `db.rules`: the catalog writes the queue (attach, detach) and the
rule evaluator consumes it, and neither touches rules through it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, delete, insert, select

from lake.db.schema_replication import updated_dids


@dataclass(frozen=True)
class DIDUpdate:
    """One queued change: which DID, what happened (ATTACH, DETACH) and when."""

    id: int
    scope: str
    name: str
    action: str
    created_at: datetime


def note(conn: Connection, scope: str, name: str, action: str, now: datetime) -> None:
    """Queue a change of the DID's content for the rule evaluator."""
    conn.execute(insert(updated_dids).values(scope=scope, name=name, action=action, created_at=now))


def pending(conn: Connection, limit: int) -> list[DIDUpdate]:
    """The oldest `limit` queued changes."""
    query = select(updated_dids).order_by(updated_dids.c.id).limit(limit)
    return [DIDUpdate(**row._mapping) for row in conn.execute(query)]


def consume(conn: Connection, ids: Sequence[int]) -> None:
    """The changes are handled: they leave the queue."""
    if ids:
        conn.execute(delete(updated_dids).where(updated_dids.c.id.in_(list(ids))))
