"""Multihop: when no direct route exists, copy to an intermediate RSE first, then on from there.

The hop is an ordinary transfer (source -> intermediate, `hop_of` = the original) restricted to the chosen
source; the original waits (WAITING) and is queued again when the hop is DONE, when its ranking finds the
intermediate replica with a direct route. Once the original ends, the intermediate replica is tombstoned
OBSOLETE (unless a rule locked it meanwhile) so the reaper removes it.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection

from lake.core.clock import utcnow
from lake.core.models import ReplicaState, RSEOut
from lake.db import replicas as replica_rows
from lake.db import transfers as transfer_rows
from lake.db.transfers import Request, TransferRow
from lake.logic.monitoring.events import record
from lake.logic.rules.locks import tombstone_unlocked
from lake.logic.transfers.sources import Source


def intermediate_status(conn: Connection, transfer: TransferRow, inter: RSEOut) -> str:
    """How an intermediate can take a hop: "free" (no replica of the file, or a stale COPYING one), "busy"
    (another hop fills it: the original waits, then finds it AVAILABLE) or "unusable"."""
    key = (inter.id, transfer.scope, transfer.name)
    state = replica_rows.state_of(conn, key)
    if state is None:
        return "free"
    if state != ReplicaState.COPYING.value:
        return "unusable"
    return "busy" if transfer_rows.active_to(conn, [key], include_hops=True) else "free"


def start_hop(conn: Connection, transfer: TransferRow, source: Source, inter: RSEOut) -> bool:
    """Park the original (QUEUED -> WAITING) and queue its hop to `inter`; False if the original moved on."""
    now = utcnow()
    if not transfer_rows.park(conn, transfer.id, now):
        return False
    replica_rows.ensure(conn, replica_rows.new_replica(inter.id, transfer, ReplicaState.COPYING, now))
    request = Request(transfer.rule_id, transfer.activity, transfer.priority, source.rse.name, transfer.max_attempts)
    hop = transfer_rows.new_transfer(transfer, inter.id, request, now, hop_of=transfer.id)
    transfer_rows.queue(conn, [hop])
    record(
        conn,
        "transfer.hop",
        transfer_id=transfer.id,
        rule_id=transfer.rule_id,
        scope=transfer.scope,
        name=transfer.name,
        source_rse=source.rse.name,
        dest_rse=inter.name,
        bytes=transfer.bytes,
        activity=transfer.activity,
        payload={"hop": hop.id, "via": inter.name},
    )
    return True


def release_parent(conn: Connection, parent_id: str) -> bool:
    """The hop is done: the waiting original goes back to the queue at once (False if it no longer waits)."""
    return transfer_rows.requeue_waiting(conn, parent_id, utcnow())


def drop_intermediates(conn: Connection, parent_id: str) -> None:
    """The original ended: its hops' replicas become OBSOLETE unless something locked them."""
    drop_intermediates_of(conn, [parent_id])


def drop_intermediates_of(conn: Connection, parent_ids: Sequence[str]) -> None:
    """`drop_intermediates` for many originals at once."""
    keys = transfer_rows.hop_destinations_of(conn, parent_ids) if parent_ids else []
    if keys:
        tombstone_unlocked(conn, keys, purge=True)
