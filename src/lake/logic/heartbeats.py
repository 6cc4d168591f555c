"""Daemon heartbeats: who is alive, and which share of the work each live instance owns.

Every iteration an instance upserts its row, drops its daemon's rows older than the dead threshold, and takes its index
among the live instances of its daemon (sorted by instance name) as its hash partition. Instances that
crash stop beating and fall out of the count after `dead_after` seconds, so the others take over their share.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import NamedTuple

from sqlalchemy import Connection, delete, insert, select, update

from lake.core.clock import utcnow
from lake.core.partition import Partition
from lake.db.schema_replication import heartbeats

DEAD_AFTER = 60.0


class Heartbeat(NamedTuple):
    daemon: str
    instance: str
    updated_at: datetime
    started_at: datetime


def beat(conn: Connection, daemon: str, instance: str, dead_after: float = DEAD_AFTER) -> Partition:
    """Record that `instance` is alive, forget dead instances, and return this instance's partition."""
    now = utcnow()
    touched = conn.execute(
        update(heartbeats)
        .where(heartbeats.c.daemon == daemon, heartbeats.c.instance == instance)
        .values(updated_at=now)
    ).rowcount
    if not touched:  # an instance beats from one thread only, so nobody else inserts this key meanwhile
        conn.execute(insert(heartbeats).values(daemon=daemon, instance=instance, updated_at=now, started_at=now))
    stale = now - timedelta(seconds=dead_after)  # per daemon: each daemon knows its own interval, hence threshold
    conn.execute(delete(heartbeats).where(heartbeats.c.daemon == daemon, heartbeats.c.updated_at < stale))
    names = list(
        conn.execute(
            select(heartbeats.c.instance).where(heartbeats.c.daemon == daemon).order_by(heartbeats.c.instance)
        ).scalars()
    )
    return Partition(index=names.index(instance), total=len(names))


def die(conn: Connection, daemon: str, instance: str) -> None:
    """Remove this instance's heartbeat so the others take over its share at their next beat."""
    conn.execute(delete(heartbeats).where(heartbeats.c.daemon == daemon, heartbeats.c.instance == instance))


def live_instances(conn: Connection, daemon: str | None = None, dead_after: float = DEAD_AFTER) -> list[Heartbeat]:
    """Instances that beat within `dead_after` seconds, by daemon then instance name (for monitoring)."""
    query = select(heartbeats).where(heartbeats.c.updated_at >= utcnow() - timedelta(seconds=dead_after))
    if daemon is not None:
        query = query.where(heartbeats.c.daemon == daemon)
    rows = conn.execute(query.order_by(heartbeats.c.daemon, heartbeats.c.instance))
    return [Heartbeat(*row) for row in rows]
