"""Recording how a transfer ended: DONE (replica AVAILABLE, locks OK) or a categorised failure.

Every transition is a compare-and-set on the transfer's state (and, once claimed, its worker), so a worker
that lost its claim (requeued after a missed heartbeat) can never finish a transfer a second time. A failure
with attempts left goes back to the queue after an exponential backoff; the last one marks the transfer
FAILED and the locks on its replica STUCK, with the error on their rules.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, select

from lake.core.clock import utcnow
from lake.core.models import ReplicaState
from lake.core.replication import LockState, TransferState
from lake.db import replicas as replica_rows
from lake.db import rules as rule_rows
from lake.db import schema as t
from lake.db import transfers as transfer_rows
from lake.db.transfers import Attempt, TransferRow
from lake.logic.monitoring.events import event_row, record, record_many
from lake.logic.rules.locks import move_lock_states
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


def lock_rules(conn: Connection, key: tuple[str, str, str]) -> None:
    """Hold the rules with locks on this replica before their counters shift (see `db.rules.hold`)."""
    rule_rows.hold_holders(conn, key)


def finish(conn: Connection, job: Job, copied: Copied) -> str:
    """DONE: replica AVAILABLE, every lock on it OK, rules refreshed.

    Returns DONE, LOST (the claim moved on: whoever holds the transfer now verifies the file) or DISCARD (the
    replica row went away, or the reaper is deleting it, while copying: the caller deletes the file so no
    orphan stays; in the second case the transfer is queued again in case a new lock wants the replica).
    """
    return finish_many(conn, [(job, copied)])[job.transfer.id]


def finish_many(conn: Connection, copies: Sequence[tuple[Job, Copied]]) -> dict[str, str]:
    """`finish` for many verified copies (a bulk pull's) with one statement per step for all of them: the
    outcome of each, by transfer id."""
    now = utcnow()
    outcomes: dict[str, str] = {}
    states = replica_rows.states(conn, [job.key for job, _ in copies])
    wanted = []
    for job, copied in copies:
        state = states.get(job.key)
        if state in (None, ReplicaState.BEING_DELETED.value):
            _set_aside(conn, job, now, requeue=state is not None)
            outcomes[job.transfer.id] = DISCARD
        else:
            wanted.append((job, copied))
    done = _claimed_done(conn, [job for job, _ in wanted], now)
    finished = [(job, copied) for job, copied in wanted if job.transfer.id in done]
    outcomes |= {job.transfer.id: DONE if job.transfer.id in done else LOST for job, _ in wanted}
    if finished:
        keys = [job.key for job, _ in finished]
        replica_rows.mark_available(conn, keys, now)
        rule_rows.hold_holders_of(conn, keys)
        move_lock_states(conn, keys, LockState.OK)
        record_many(conn, [_done_event(job, copied) for job, copied in finished])
        _end_hops(conn, [job.transfer for job, _ in finished])
    return outcomes


def _claimed_done(conn: Connection, jobs: Sequence[Job], now: datetime) -> set[str]:
    """SUBMITTED -> DONE for the jobs whose claim (worker) still holds; their ids."""
    groups: dict[tuple[str, str], list[str]] = defaultdict(list)
    for job in jobs:
        groups[(job.worker, job.route.mode)].append(job.transfer.id)
    done: set[str] = set()
    for (worker, mode), ids in groups.items():
        done |= transfer_rows.done_many(conn, ids, worker, mode, now)
    return done


def _done_event(job: Job, copied: Copied) -> dict[str, Any]:
    row = job.transfer
    return event_row(
        "transfer.done",
        transfer_id=row.id,
        rule_id=row.rule_id,
        scope=row.scope,
        name=row.name,
        source_rse=job.source_rse,
        dest_rse=job.dest_rse,
        bytes=copied.bytes,
        duration=copied.duration,
        activity=row.activity,
        payload={"mode": job.route.mode, "worker": job.worker, "recovered": copied.recovered, "attempt": row.attempt},
    )


def _end_hops(conn: Connection, rows: Sequence[TransferRow]) -> None:
    """Originals done: their intermediates go. Hops done: their originals are queued again (or, cancelled
    meanwhile, lose their intermediates)."""
    multihop.drop_intermediates_of(conn, [row.id for row in rows if not row.hop_of])
    for row in rows:
        if row.hop_of and not multihop.release_parent(conn, row.hop_of):
            multihop.drop_intermediates(conn, row.hop_of)


def _set_aside(conn: Connection, job: Job, now: datetime, requeue: bool) -> None:
    """CANCELLED when the replica row is gone; back to the queue (after a backoff) while it is being deleted."""
    row = job.transfer
    if transfer_rows.set_aside(conn, row.id, job.worker, now, now + backoff(1) if requeue else None):
        record(
            conn,
            f"transfer.{'requeued' if requeue else 'cancelled'}",
            transfer_id=row.id,
            rule_id=row.rule_id,
            scope=row.scope,
            name=row.name,
            dest_rse=job.dest_rse,
            message="the destination replica is being deleted" if requeue else "the replica went away",
        )


def fail(
    conn: Connection,
    transfer: TransferRow,
    failure: TransferFailed,
    source: str | None = None,
    worker: str | None = None,
    state: TransferState = TransferState.QUEUED,
) -> bool:
    """Count a failed attempt: back to the queue after a backoff, or FAILED when none remain.

    `state`/`worker` is what the transfer must still be (SUBMITTED by this worker once claimed). Returns
    False if it moved on meanwhile.
    """
    now = utcnow()
    attempt = transfer.attempt + 1
    final = attempt >= transfer.max_attempts
    error = error_text(failure.message, transfer.error, source)
    recorded = Attempt(attempt, failure.category.value, error, None if final else now + backoff(attempt))
    if not transfer_rows.count_failure(conn, transfer.id, state, worker, recorded, now):
        return False
    record(
        conn,
        "transfer.failed",
        transfer_id=transfer.id,
        rule_id=transfer.rule_id,
        scope=transfer.scope,
        name=transfer.name,
        source_rse=source,
        dest_rse=_rse_name(conn, transfer.dest_rse_id),
        bytes=transfer.bytes,
        activity=transfer.activity,
        error_category=failure.category.value,
        message=failure.message,
        payload={"attempt": attempt, "final": final, "worker": worker},
    )
    if final:
        _give_up(conn, transfer, failure)
    return True


def _rse_name(conn: Connection, rse_id: str) -> str:
    return conn.execute(select(t.rses.c.name).where(t.rses.c.id == rse_id)).scalar() or rse_id


def _give_up(conn: Connection, transfer: TransferRow, failure: TransferFailed) -> None:
    """A hop's last failure fails its original; an original's last failure makes its locks STUCK."""
    if transfer.hop_of:
        parent = transfer_rows.get(conn, transfer.hop_of)
        if parent is not None:
            fail(
                conn,
                parent,
                TransferFailed(failure.category, f"hop failed: {failure.message}"),
                state=TransferState.WAITING,
            )
        return
    multihop.drop_intermediates(conn, transfer.id)
    key = (transfer.dest_rse_id, transfer.scope, transfer.name)
    lock_rules(conn, key)
    affected = move_lock_states(conn, [key], LockState.STUCK)
    if affected:
        rule_rows.set_error(
            conn, sorted(affected), f"{transfer.scope}:{transfer.name}: {failure.category.value}: {failure.message}"
        )
