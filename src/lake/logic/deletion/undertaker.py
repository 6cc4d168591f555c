"""The undertaker: DIDs past their `expired_at` are deleted, their rules expire, their names stay taken.

Collections go at once (their rules, their content rows both ways, their metadata); the DID row moves to
`deleted_dids` so the name is never reused. Files leave their parents and lose their rules, their unlocked
replicas get OBSOLETE tombstones, and the DID row goes once the reaper has removed the last replica.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, and_, delete, exists, insert, or_, select, tuple_

from lake.core.clock import utcnow
from lake.core.models import DIDRef, DIDType, ReplicaState
from lake.core.partition import Partition
from lake.core.states import OBSOLETE
from lake.db import replicas as replica_rows
from lake.db import rules as rule_rows
from lake.db import schema as t
from lake.db.schema_replication import rules
from lake.logic.catalog.contents import note_update, refresh_size
from lake.logic.deletion.expiry import remove_rule
from lake.logic.monitoring.events import event_row, record_many

LIMIT = 100
Key = tuple[str, str]


def expire_dids(conn: Connection, partition: Partition, limit: int = LIMIT) -> int:
    """Handle up to `limit` expired DIDs of this partition (oldest expiry first); returns how many."""
    rows = conn.execute(_expired_query().limit(limit * max(partition.total, 1))).all()
    mine = [row for row in rows if partition.owns(f"{row.scope}:{row.name}")][:limit]
    events = []
    for row in mine:
        for rule in rule_rows.on_did(conn, row.scope, row.name):
            remove_rule(conn, rule, "rule.expired", f"DID {row.scope}:{row.name} expired")
        marked = 0 if row.did_type != DIDType.FILE.value else _tombstone_file(conn, (row.scope, row.name))
        gone = row.did_type != DIDType.FILE.value or not _has_replicas(conn, (row.scope, row.name))
        if gone:
            bury_dids(conn, [(row.scope, row.name)])
        else:
            detach_from_parents(conn, [(row.scope, row.name)])
        payload = {"did_type": row.did_type, "deleted": gone, "replicas_tombstoned": marked}
        events.append(event_row("did.expired", scope=row.scope, name=row.name, payload=payload))
    record_many(conn, events)
    return len(mine)


def _expired_query() -> Any:
    """Expired DIDs with work left: every collection; files unless only waiting for the reaper."""
    d, r, c = t.dids.c, t.replicas.c, t.contents.c
    same_file = and_(r.scope == d.scope, r.name == d.name)
    unmarked = or_(r.tombstone.is_(None), r.tombstone != OBSOLETE)
    needs_work = or_(
        d.did_type != DIDType.FILE.value,
        ~exists().where(same_file),
        exists().where(same_file, unmarked, r.state != ReplicaState.BEING_DELETED.value),
        exists().where(c.child_scope == d.scope, c.child_name == d.name),
        exists().where(rules.c.scope == d.scope, rules.c.name == d.name),
    )
    return select(t.dids).where(d.expired_at < utcnow(), needs_work).order_by(d.expired_at, d.scope, d.name)


def _tombstone_file(conn: Connection, key: Key) -> int:
    """Unlocked replicas of an expired file become OBSOLETE: the reaper deletes them first."""
    return replica_rows.obsolete(conn, [key], utcnow())


def _has_replicas(conn: Connection, key: Key) -> bool:
    r = t.replicas.c
    return conn.execute(select(r.rse_id).where(r.scope == key[0], r.name == key[1]).limit(1)).first() is not None


def detach_from_parents(conn: Connection, keys: Sequence[Key]) -> None:
    """Remove content rows pointing to these DIDs; parents get fresh sizes and a rule re-evaluation."""
    c = t.contents.c
    pointing = tuple_(c.child_scope, c.child_name).in_(list(keys))
    parents = conn.execute(select(c.scope, c.name).where(pointing).distinct()).all()
    if not parents:
        return
    conn.execute(delete(t.contents).where(pointing))
    for scope, name in parents:
        parent = DIDRef(scope=scope, name=name)
        refresh_size(conn, parent)
        note_update(conn, parent, "DETACH")


def bury_dids(conn: Connection, keys: Sequence[Key]) -> None:
    """Delete DIDs for good: out of their parents, content and metadata gone, the name kept in `deleted_dids`."""
    if not keys:
        return
    d, c, m = t.dids.c, t.contents.c, t.did_meta.c
    detach_from_parents(conn, keys)
    wanted = list(keys)
    now = utcnow()
    found = conn.execute(select(d.scope, d.name, d.did_type).where(tuple_(d.scope, d.name).in_(wanted))).all()
    if found:
        conn.execute(
            insert(t.deleted_dids),
            [{"scope": s, "name": n, "did_type": kind, "deleted_at": now} for s, n, kind in found],
        )
    conn.execute(delete(t.contents).where(tuple_(c.scope, c.name).in_(wanted)))
    conn.execute(delete(t.did_meta).where(tuple_(m.scope, m.name).in_(wanted)))
    conn.execute(delete(t.dids).where(tuple_(d.scope, d.name).in_(wanted)))
