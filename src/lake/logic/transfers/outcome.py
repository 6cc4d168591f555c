"""Recording how a transfer ended: DONE (replica AVAILABLE, locks OK) or a categorised failure.

Every transition is a compare-and-set on the transfer's state (and, once claimed, its worker), so a worker
that lost its claim (requeued after a missed heartbeat) can never finish a transfer a second time. A failure
with attempts left goes back to the queue after an exponential backoff; the last one marks the transfer
FAILED and the locks on its replica STUCK, with the error on their rules.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, select, update

from lake.core.clock import utcnow
from lake.core.models import ReplicaState
from lake.core.policy import LockState, TransferState
from lake.db import schema as t
from lake.db.schema_policy import locks, rules, transfers
from lake.logic.monitoring.events import record
from lake.logic.rules.locks import lock_rule_rows, move_lock_states
from lake.logic.transfers import multihop
from lake.logic.transfers.execute import Copied
from lake.logic.transfers.failures import TransferFailed, error_text
from lake.logic.transfers.job import Job

BACKOFF_BASE = 2.0  # seconds before the first retry; doubles per attempt
BACKOFF_CAP = 600.0
DONE, LOST, DISCARD = "done", "lost", "discard"


def backoff(attempt: int) -> timedelta:
    """How long a transfer waits before attempt number `attempt` (1 = the first retry)."""
    return timedelta(seconds=min(BACKOFF_CAP, BACKOFF_BASE * 2 ** max(0, attempt - 1)))


def _owned(transfer_id: str, state: TransferState, worker: str | None) -> Any:
    """The compare-and-set condition: still in `state` and, when claimed, still held by `worker`."""
    x = transfers.c
    condition = (x.id == transfer_id) & (x.state == state.value)
    return condition & (x.worker == worker) if worker is not None else condition


def lock_rules(conn: Connection, key: tuple[str, str, str]) -> None:
    """Hold the rules with locks on this replica before their counters shift (see `lock_rule_rows`)."""
    rse_id, scope, name = key
    holders = select(locks.c.rule_id).where(locks.c.rse_id == rse_id, locks.c.scope == scope, locks.c.name == name)
    lock_rule_rows(conn, rules.c.id.in_(holders))


def finish(conn: Connection, job: Job, copied: Copied) -> str:
    """DONE: replica AVAILABLE, every lock on it OK, rules refreshed.

    Returns DONE, LOST (the claim moved on: whoever holds the transfer now verifies the file) or DISCARD (the
    replica row went away, or the reaper is deleting it, while copying: the caller deletes the file so no
    orphan stays; in the second case the transfer is queued again in case a new lock wants the replica).
    """
    now = utcnow()
    row = job.transfer
    r = t.replicas.c
    replica = (r.rse_id == row.dest_rse_id) & (r.scope == row.scope) & (r.name == row.name)
    state = conn.execute(select(r.state).where(replica)).scalar()
    if state in (None, ReplicaState.BEING_DELETED.value):
        _set_aside(conn, job, now, requeue=state is not None)
        return DISCARD
    done = conn.execute(
        update(transfers)
        .where(_owned(row.id, TransferState.SUBMITTED, job.worker))
        .values(state=TransferState.DONE.value, mode=job.route.mode, error_category=None, error=None,
                finished_at=now, updated_at=now)
    ).rowcount  # fmt: skip
    if not done:
        return LOST
    conn.execute(update(t.replicas).where(replica).values(state=ReplicaState.AVAILABLE.value, updated_at=now))
    lock_rules(conn, job.key)
    move_lock_states(conn, [job.key], LockState.OK)
    record(conn, "transfer.done", transfer_id=row.id, rule_id=row.rule_id, scope=row.scope, name=row.name,
           source_rse=job.source_rse, dest_rse=job.dest_rse, bytes=copied.bytes, duration=copied.duration,
           activity=row.activity, payload={"mode": job.route.mode, "worker": job.worker,
                                           "recovered": copied.recovered, "attempt": row.attempt})  # fmt: skip
    if not row.hop_of:
        multihop.drop_intermediates(conn, row.id)
    elif not multihop.release_parent(conn, row.hop_of):  # the original was cancelled meanwhile
        multihop.drop_intermediates(conn, row.hop_of)
    return DONE


def _set_aside(conn: Connection, job: Job, now: Any, requeue: bool) -> None:
    """CANCELLED when the replica row is gone; back to the queue (after a backoff) while it is being deleted."""
    row = job.transfer
    values: dict[str, Any] = {"worker": None, "updated_at": now}
    if requeue:
        values.update(state=TransferState.QUEUED.value, retry_after=now + backoff(1))
    else:
        values.update(state=TransferState.CANCELLED.value, finished_at=now)
    if conn.execute(
        update(transfers).where(_owned(row.id, TransferState.SUBMITTED, job.worker)).values(**values)
    ).rowcount:
        record(conn, f"transfer.{'requeued' if requeue else 'cancelled'}", transfer_id=row.id, rule_id=row.rule_id,
               scope=row.scope, name=row.name, dest_rse=job.dest_rse,
               message="the destination replica is being deleted" if requeue else "the replica went away")  # fmt: skip


def fail(conn: Connection, transfer: Any, failure: TransferFailed, source: str | None = None,
         worker: str | None = None, state: TransferState = TransferState.QUEUED) -> bool:  # fmt: skip
    """Count a failed attempt: back to the queue after a backoff, or FAILED when none remain.

    `state`/`worker` is what the transfer must still be (SUBMITTED by this worker once claimed). Returns
    False if it moved on meanwhile.
    """
    now = utcnow()
    attempt = transfer.attempt + 1
    final = attempt >= transfer.max_attempts
    error = error_text(failure.message, transfer.error, source)
    values: dict[str, Any] = {
        "attempt": attempt, "worker": None, "error_category": failure.category.value, "error": error,
        "updated_at": now,
    }  # fmt: skip
    if final:
        values.update(state=TransferState.FAILED.value, finished_at=now)
    else:
        values.update(state=TransferState.QUEUED.value, retry_after=now + backoff(attempt))
    if not conn.execute(update(transfers).where(_owned(transfer.id, state, worker)).values(**values)).rowcount:
        return False
    record(conn, "transfer.failed", transfer_id=transfer.id, rule_id=transfer.rule_id, scope=transfer.scope,
           name=transfer.name, source_rse=source, dest_rse=_rse_name(conn, transfer.dest_rse_id),
           bytes=transfer.bytes, activity=transfer.activity, error_category=failure.category.value,
           message=failure.message, payload={"attempt": attempt, "final": final, "worker": worker})  # fmt: skip
    if final:
        _give_up(conn, transfer, failure)
    return True


def _rse_name(conn: Connection, rse_id: str) -> str:
    return conn.execute(select(t.rses.c.name).where(t.rses.c.id == rse_id)).scalar() or rse_id


def _give_up(conn: Connection, transfer: Any, failure: TransferFailed) -> None:
    """A hop's last failure fails its original; an original's last failure makes its locks STUCK."""
    if transfer.hop_of:
        parent = conn.execute(select(transfers).where(transfers.c.id == transfer.hop_of)).first()
        if parent is not None:
            fail(conn, parent, TransferFailed(failure.category, f"hop failed: {failure.message}"),
                 state=TransferState.WAITING)  # fmt: skip
        return
    multihop.drop_intermediates(conn, transfer.id)
    key = (transfer.dest_rse_id, transfer.scope, transfer.name)
    lock_rules(conn, key)
    affected = move_lock_states(conn, [key], LockState.STUCK)
    if affected:
        conn.execute(
            update(rules)
            .where(rules.c.id.in_(sorted(affected)))
            .values(error=f"{transfer.scope}:{transfer.name}: {failure.category.value}: {failure.message}"[:4000])
        )
