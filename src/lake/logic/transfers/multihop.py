"""Multihop: when no direct route exists, copy to an intermediate RSE first, then on from there.

The hop is an ordinary transfer (source -> intermediate, `hop_of` = the original) restricted to the chosen
source; the original waits (WAITING) and is queued again when the hop is DONE, when its ranking finds the
intermediate replica with a direct route. Once the original ends, the intermediate replica is tombstoned
OBSOLETE (unless a rule locked it meanwhile) so the reaper removes it.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Connection, insert, select, update

from lake.core.clock import utcnow
from lake.core.models import ReplicaState, RSEOut
from lake.core.partition import bucket_of
from lake.core.policy import TransferState
from lake.db import schema as t
from lake.db.schema_policy import transfers
from lake.logic.monitoring.events import record
from lake.logic.rules.locks import tombstone_unlocked
from lake.logic.transfers.sources import Source

ACTIVE = (TransferState.QUEUED.value, TransferState.SUBMITTED.value, TransferState.WAITING.value)


def intermediate_status(conn: Connection, transfer: Any, inter: RSEOut) -> str:
    """How an intermediate can take a hop: "free" (no replica of the file, or a stale COPYING one), "busy"
    (another hop fills it: the original waits, then finds it AVAILABLE) or "unusable"."""
    r, x = t.replicas.c, transfers.c
    state = conn.execute(
        select(r.state).where(r.rse_id == inter.id, r.scope == transfer.scope, r.name == transfer.name)
    ).scalar()
    if state is None:
        return "free"
    if state != ReplicaState.COPYING.value:
        return "unusable"
    active = select(x.id).where(
        x.dest_rse_id == inter.id, x.scope == transfer.scope, x.name == transfer.name, x.state.in_(ACTIVE)
    )
    return "busy" if conn.execute(active).first() else "free"


def start_hop(conn: Connection, transfer: Any, source: Source, inter: RSEOut) -> bool:
    """Park the original (QUEUED -> WAITING) and queue its hop to `inter`; False if the original moved on."""
    now = utcnow()
    x = transfers.c
    parked = conn.execute(
        update(transfers)
        .where(x.id == transfer.id, x.state == TransferState.QUEUED.value)
        .values(state=TransferState.WAITING.value, updated_at=now)
    ).rowcount
    if not parked:
        return False
    _ensure_replica(conn, transfer, inter.id, now)
    hop_id = uuid.uuid4().hex
    conn.execute(insert(transfers).values(
        id=hop_id, scope=transfer.scope, name=transfer.name, dest_rse_id=inter.id, source_rse_id=None,
        hop_of=transfer.id, rule_id=transfer.rule_id, state=TransferState.QUEUED.value, activity=transfer.activity,
        priority=transfer.priority, bytes=transfer.bytes, adler32=transfer.adler32, md5=transfer.md5,
        source_replica_expression=source.rse.name, attempt=0, max_attempts=transfer.max_attempts,
        retry_after=None, bucket=bucket_of(hop_id), worker=None, mode=None, error_category=None, error=None,
        created_at=now, submitted_at=None, finished_at=None, updated_at=now,
    ))  # fmt: skip
    record(conn, "transfer.hop", transfer_id=transfer.id, rule_id=transfer.rule_id, scope=transfer.scope,
           name=transfer.name, source_rse=source.rse.name, dest_rse=inter.name, bytes=transfer.bytes,
           activity=transfer.activity, payload={"hop": hop_id, "via": inter.name})  # fmt: skip
    return True


def _ensure_replica(conn: Connection, transfer: Any, rse_id: str, now: Any) -> None:
    """A COPYING replica on the intermediate (no lock, no tombstone while the hop is needed)."""
    r = t.replicas.c
    where = (r.rse_id == rse_id) & (r.scope == transfer.scope) & (r.name == transfer.name)
    if conn.execute(update(t.replicas).where(where).values(tombstone=None, updated_at=now)).rowcount:
        return
    conn.execute(insert(t.replicas).values(
        rse_id=rse_id, scope=transfer.scope, name=transfer.name, bytes=transfer.bytes, adler32=transfer.adler32,
        md5=transfer.md5, path=None, state=ReplicaState.COPYING.value, lock_cnt=0, tombstone=None,
        accessed_at=None, created_at=now, updated_at=now,
    ))  # fmt: skip


def release_parent(conn: Connection, parent_id: str) -> bool:
    """The hop is done: the waiting original goes back to the queue at once (False if it no longer waits)."""
    x = transfers.c
    return bool(
        conn.execute(
            update(transfers)
            .where(x.id == parent_id, x.state == TransferState.WAITING.value)
            .values(state=TransferState.QUEUED.value, retry_after=None, updated_at=utcnow())
        ).rowcount
    )


def drop_intermediates(conn: Connection, parent_id: str) -> None:
    """The original ended: its hops' replicas become OBSOLETE unless something locked them."""
    x = transfers.c
    rows = conn.execute(select(x.dest_rse_id, x.scope, x.name).where(x.hop_of == parent_id)).all()
    keys = sorted({(row.dest_rse_id, row.scope, row.name) for row in rows})
    if keys:
        tombstone_unlocked(conn, keys, purge=True)
