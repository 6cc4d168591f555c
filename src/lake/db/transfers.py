"""The `transfers` table's owner: queueing, claiming, the compare-and-set transitions, hops and cancellation.

Every transition after the queue is a compare-and-set on the row's state (and, once claimed, its worker), so
two workers, or a worker that lost its claim, can never move one transfer twice: each returns whether it took
effect, and logic decides what follows. Rows are built in one place (`new_transfer`, with `MAX_ATTEMPTS`).
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, case, func, or_, select, update

from lake.core.clock import utcnow
from lake.core.partition import Partition, bucket_of
from lake.core.replication import TransferState
from lake.core.states import ACTIVE_TRANSFER, CANCELLABLE_TRANSFER
from lake.db.bulk import insert_rows, key_conditions, refresh_statistics
from lake.db.replicas import FileFacts
from lake.db.schema_replication import locks, transfers

ReplicaKey = tuple[str, str, str]  # (dest_rse_id, scope, name)
MAX_ATTEMPTS = 3  # copies tried before a transfer is FAILED (and its locks STUCK)
CHUNK = 500  # ids per statement of the batch operations
QUEUED, SUBMITTED, WAITING = TransferState.QUEUED, TransferState.SUBMITTED, TransferState.WAITING


@dataclass
class TransferRow:
    """One row of `transfers` (not frozen: built by the hundred thousand)."""

    id: str
    scope: str
    name: str
    dest_rse_id: str
    source_rse_id: str | None
    hop_of: str | None
    rule_id: str | None
    state: str
    activity: str
    priority: int
    bytes: int
    adler32: str | None
    md5: str | None
    source_replica_expression: str | None
    attempt: int
    max_attempts: int
    retry_after: datetime | None
    bucket: int
    worker: str | None
    mode: str | None
    error_category: str | None
    error: str | None
    created_at: datetime
    submitted_at: datetime | None
    finished_at: datetime | None
    updated_at: datetime


@dataclass(frozen=True)
class Request:
    """Who wants a copy and how: the rule, its activity and priority, where sources may be, how many tries."""

    rule_id: str | None
    activity: str
    priority: int
    source_replica_expression: str | None
    max_attempts: int = MAX_ATTEMPTS


def new_transfer(
    file: FileFacts, dest_rse_id: str, request: Request, now: datetime, hop_of: str | None = None
) -> TransferRow:
    """A QUEUED transfer of `file` to the RSE (a hop if `hop_of` names the transfer it feeds), never tried."""
    transfer_id = uuid.uuid4().hex
    return TransferRow(
        id=transfer_id,
        scope=file.scope,
        name=file.name,
        dest_rse_id=dest_rse_id,
        source_rse_id=None,
        hop_of=hop_of,
        rule_id=request.rule_id,
        state=QUEUED.value,
        activity=request.activity,
        priority=request.priority,
        bytes=file.bytes,
        adler32=file.adler32,
        md5=file.md5,
        source_replica_expression=request.source_replica_expression,
        attempt=0,
        max_attempts=request.max_attempts,
        retry_after=None,
        bucket=bucket_of(transfer_id),
        worker=None,
        mode=None,
        error_category=None,
        error=None,
        created_at=now,
        submitted_at=None,
        finished_at=None,
        updated_at=now,
    )


def queue(conn: Connection, rows: Sequence[TransferRow]) -> None:
    """Insert new transfers in bulk (COPY on PostgreSQL)."""
    insert_rows(conn, transfers, [dict(vars(row)) for row in rows])


def analyze(conn: Connection, pending: int = 0) -> None:
    """Keep the planner's statistics true before many key lookups (see `bulk.refresh_statistics`)."""
    refresh_statistics(conn, transfers, pending=pending)


def get(conn: Connection, transfer_id: str) -> TransferRow | None:
    row = conn.execute(select(transfers).where(transfers.c.id == transfer_id)).first()
    return None if row is None else _transfer_row(row)


def active_to(conn: Connection, keys: Sequence[ReplicaKey], include_hops: bool = False) -> set[ReplicaKey]:
    """Which of these replicas an active transfer (queued, running or waiting for its hop) is writing."""
    x = transfers.c
    found: set[ReplicaKey] = set()
    for where in key_conditions(conn, (x.dest_rse_id, x.scope, x.name), keys):
        query = select(x.dest_rse_id, x.scope, x.name).where(where, x.state.in_(ACTIVE_TRANSFER))
        if not include_hops:
            query = query.where(x.hop_of.is_(None))
        found.update((a, b, c) for a, b, c in conn.execute(query))
    return found


def cancel_unwanted(conn: Connection, keys: Sequence[ReplicaKey], now: datetime) -> None:
    """QUEUED or WAITING transfers to these replicas that no lock wants any more become CANCELLED."""
    x, c = transfers.c, locks.c
    still_locked = select(c.rse_id).where(c.rse_id == x.dest_rse_id, c.scope == x.scope, c.name == x.name).exists()
    for where in key_conditions(conn, (x.dest_rse_id, x.scope, x.name), keys):
        conn.execute(
            update(transfers)
            .where(where, x.state.in_(CANCELLABLE_TRANSFER), ~still_locked)
            .values(state=TransferState.CANCELLED.value, finished_at=now, updated_at=now)
        )


# --- multihop ------------------------------------------------------------------------------------------------


def park(conn: Connection, transfer_id: str, now: datetime) -> bool:
    """QUEUED -> WAITING (for its hop); False if the transfer moved on."""
    return _move(conn, _owned(transfer_id, QUEUED, None), {"state": WAITING.value, "updated_at": now})


def requeue_waiting(conn: Connection, transfer_id: str, now: datetime) -> bool:
    """WAITING -> QUEUED at once (its hop is done); False if it no longer waits."""
    values = {"state": QUEUED.value, "retry_after": None, "updated_at": now}
    return _move(conn, _owned(transfer_id, WAITING, None), values)


def hop_destinations(conn: Connection, parent_id: str) -> list[ReplicaKey]:
    """The replicas the hops of this transfer wrote (or were writing), sorted."""
    return hop_destinations_of(conn, [parent_id])


def hop_destinations_of(conn: Connection, parent_ids: Sequence[str]) -> list[ReplicaKey]:
    """The replicas the hops of any of these transfers wrote (or were writing), sorted."""
    x = transfers.c
    found: set[ReplicaKey] = set()
    for start in range(0, len(parent_ids), CHUNK):
        query = select(x.dest_rse_id, x.scope, x.name).where(x.hop_of.in_(list(parent_ids[start : start + CHUNK])))
        found |= {(row.dest_rse_id, row.scope, row.name) for row in conn.execute(query)}
    return sorted(found)


# --- claiming ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Orphan:
    """A SUBMITTED transfer whose worker may be gone."""

    id: str
    worker: str | None
    scope: str
    name: str
    rule_id: str | None


def orphans(conn: Connection, partition: Partition, live: Collection[str], me: str | None = None) -> list[Orphan]:
    """SUBMITTED transfers of this partition held by no live worker, and (any partition) those held by `me`."""
    x = transfers.c
    theirs = and_(partition.sql(x.bucket), or_(x.worker.is_(None), x.worker.not_in(sorted(live))))
    mine = or_(theirs, x.worker == me) if me else theirs
    query = select(x.id, x.worker, x.scope, x.name, x.rule_id).where(x.state == SUBMITTED.value, mine)
    return [Orphan(*row) for row in conn.execute(query)]


def requeue_orphan(conn: Connection, orphan: Orphan, now: datetime) -> bool:
    """SUBMITTED (by the orphan's worker) -> QUEUED, no backoff; False if it moved on."""
    x = transfers.c
    owned = (x.id == orphan.id) & (x.state == SUBMITTED.value) & (x.worker == orphan.worker)
    return _move(conn, owned, {"state": QUEUED.value, "worker": None, "retry_after": None, "updated_at": now})


def claimable(conn: Connection, partition: Partition, limit: int) -> list[TransferRow]:
    """Up to `limit` QUEUED transfers of this partition past their backoff, by priority then age. On
    PostgreSQL they are read FOR UPDATE SKIP LOCKED, so concurrent workers read disjoint candidates."""
    x = transfers.c
    query = (
        select(transfers)
        .where(
            x.state == QUEUED.value, or_(x.retry_after.is_(None), x.retry_after <= utcnow()), partition.sql(x.bucket)
        )
        .order_by(x.priority.desc(), x.created_at, x.id)
        .limit(limit)
    )
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return [_transfer_row(row) for row in conn.execute(query)]


@dataclass(frozen=True)
class Take:
    """How a worker runs a transfer it claims: from which source, in which mode."""

    worker: str
    source_rse_id: str
    mode: str


def take(conn: Connection, transfer_id: str, how: Take, now: datetime) -> bool:
    """QUEUED -> SUBMITTED for `how.worker`; False if another worker took it first.

    One transfer per call: the claim step counts each taken transfer against its link's limit before the next.
    """
    values = {
        "state": SUBMITTED.value,
        "worker": how.worker,
        "source_rse_id": how.source_rse_id,
        "mode": how.mode,
        "submitted_at": now,
        "updated_at": now,
    }
    return _move(conn, _owned(transfer_id, QUEUED, None), values)


@dataclass(frozen=True)
class Light:
    """Which SUBMITTED transfers weigh less on the limits: first attempts in `mode` of at most `bytes`, not hops,
    with an adler32 (the small files pulled in bulk), each counting `weight` of a slot."""

    mode: str
    bytes: int
    weight: float


def submitted_per_link(conn: Connection, light: Light | None = None) -> dict[tuple[str, str], float]:
    """SUBMITTED transfers per (source RSE, destination RSE), of every worker, `light` ones weighted."""
    x = transfers.c
    count: Any = func.count()
    if light is not None:
        small = (x.mode == light.mode) & (x.bytes <= light.bytes) & (x.attempt == 0) & x.hop_of.is_(None)
        count = func.sum(case((small & x.adler32.is_not(None), light.weight), else_=1.0))
    query = select(x.source_rse_id, x.dest_rse_id, count).where(x.state == SUBMITTED.value)
    rows = conn.execute(query.group_by(x.source_rse_id, x.dest_rse_id))
    return {(source, dest): float(n) for source, dest, n in rows}


# --- outcomes ------------------------------------------------------------------------------------------------


def done(conn: Connection, transfer_id: str, worker: str, mode: str, now: datetime) -> bool:
    """SUBMITTED (by `worker`) -> DONE; False if the claim moved on."""
    values = {
        "state": TransferState.DONE.value,
        "mode": mode,
        "error_category": None,
        "error": None,
        "finished_at": now,
        "updated_at": now,
    }
    return _move(conn, _owned(transfer_id, SUBMITTED, worker), values)


def done_many(conn: Connection, transfer_ids: Sequence[str], worker: str, mode: str, now: datetime) -> set[str]:
    """`done` for many transfers in one statement a chunk; the ids whose claim had not moved on."""
    x = transfers.c
    values = {
        "state": TransferState.DONE.value,
        "mode": mode,
        "error_category": None,
        "error": None,
        "finished_at": now,
        "updated_at": now,
    }
    moved: set[str] = set()
    for start in range(0, len(transfer_ids), CHUNK):
        chunk = list(transfer_ids[start : start + CHUNK])
        owned = x.id.in_(chunk) & (x.state == SUBMITTED.value) & (x.worker == worker)
        moved |= set(conn.execute(update(transfers).where(owned).values(**values).returning(x.id)).scalars())
    return moved


def set_aside(conn: Connection, transfer_id: str, worker: str, now: datetime, retry_after: datetime | None) -> bool:
    """A claimed transfer whose replica went away: back to the queue until `retry_after`, or (None) CANCELLED."""
    values: dict[str, Any] = {"worker": None, "updated_at": now}
    if retry_after is not None:
        values.update(state=QUEUED.value, retry_after=retry_after)
    else:
        values.update(state=TransferState.CANCELLED.value, finished_at=now)
    return _move(conn, _owned(transfer_id, SUBMITTED, worker), values)


@dataclass(frozen=True)
class Attempt:
    """A failed attempt as recorded: its number, why, and when to retry (None: the last one, FAILED)."""

    number: int
    category: str
    error: str
    retry_after: datetime | None


def count_failure(
    conn: Connection, transfer_id: str, state: TransferState, worker: str | None, attempt: Attempt, now: datetime
) -> bool:
    """Record a failed attempt on a transfer still in `state` (and held by `worker`, if given): QUEUED again
    until `retry_after`, or FAILED; False if it moved on meanwhile."""
    values: dict[str, Any] = {
        "attempt": attempt.number,
        "worker": None,
        "error_category": attempt.category,
        "error": attempt.error,
        "updated_at": now,
    }
    if attempt.retry_after is None:
        values.update(state=TransferState.FAILED.value, finished_at=now)
    else:
        values.update(state=QUEUED.value, retry_after=attempt.retry_after)
    return _move(conn, _owned(transfer_id, state, worker), values)


def _owned(transfer_id: str, state: TransferState, worker: str | None) -> Any:
    """The compare-and-set condition: still in `state` and, when claimed, still held by `worker`."""
    x = transfers.c
    condition = (x.id == transfer_id) & (x.state == state.value)
    return condition & (x.worker == worker) if worker is not None else condition


def _move(conn: Connection, where: Any, values: dict[str, Any]) -> bool:
    return bool(conn.execute(update(transfers).where(where).values(**values)).rowcount)


def _transfer_row(row: Any) -> TransferRow:
    return TransferRow(**row._mapping)
