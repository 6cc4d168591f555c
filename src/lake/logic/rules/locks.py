"""Locks: one per (rule, file, RSE). Creating them creates the wanted replicas and transfer requests;
releasing them tombstones replicas nobody wants any more. All operations are set-based (bulk); the rows are
written by their tables' owners (`lake.db.locks`, `replicas`, `transfers`, `rules`), the decisions are here."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import islice
from typing import Any

from sqlalchemy import Connection

from lake.core.clock import utcnow
from lake.core.models import ReplicaState
from lake.core.replication import LockState, RuleState
from lake.db import locks as lock_rows
from lake.db import replicas as replica_rows
from lake.db import rules as rule_rows
from lake.db import transfers as transfer_rows
from lake.db.bulk import ANALYZE_MIN_ROWS
from lake.db.rules import RuleRow
from lake.db.transfers import Request, TransferRow
from lake.logic.monitoring.events import event_row, record_many
from lake.logic.rules.files import RuleFile

CHUNK = 500
ADD_CHUNK = 5_000
ReplicaKey = tuple[str, str, str]


@dataclass(frozen=True)
class Placement:
    file: RuleFile
    rse_id: str

    @property
    def key(self) -> ReplicaKey:
        return (self.rse_id, self.file.scope, self.file.name)


def _chunks(items: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]


def add_locks(conn: Connection, rule: RuleRow, placements: Iterable[Placement]) -> tuple[int, int]:
    """Lock each placement for the rule; missing replicas become COPYING with a QUEUED transfer.

    Placements are consumed ADD_CHUNK at a time, so memory stays bounded however many there are.
    Returns (locks OK, locks REPLICATING).
    """
    ok = replicating = 0
    iterator = iter(placements)
    while chunk := list(islice(iterator, ADD_CHUNK)):
        missing = _add_chunk(conn, rule, chunk)
        ok, replicating = ok + len(chunk) - missing, replicating + missing
    return ok, replicating


def _add_chunk(conn: Connection, rule: RuleRow, placements: Sequence[Placement]) -> int:
    """`add_locks` for one chunk; returns how many locks are REPLICATING."""
    now = utcnow()
    keys = [p.key for p in placements]
    _fresh_statistics(conn, len(keys))
    states = replica_rows.states(conn, keys)
    available = ReplicaState.AVAILABLE.value
    missing = [p for p, key in zip(placements, keys, strict=True) if states.get(key) != available]
    new_locks = [
        lock_rows.new_lock(
            rule.id,
            rule.account,
            key,
            p.file.bytes,
            LockState.OK if states.get(key) == available else LockState.REPLICATING,
            now,
        )
        for p, key in zip(placements, keys, strict=True)
    ]
    lock_rows.add(conn, new_locks)
    lock_rows.analyze(conn, pending=len(new_locks))
    copying = [
        replica_rows.new_replica(p.rse_id, p.file, ReplicaState.COPYING, now) for p in missing if p.key not in states
    ]
    replica_rows.add(conn, copying)
    replica_rows.analyze(conn, pending=len(copying))
    replica_rows.lock(conn, keys)  # keys are distinct: each is a new lock of one rule
    queue_transfers(conn, rule, missing)
    return len(missing)


def _fresh_statistics(conn: Connection, keys: int) -> None:
    """Before looking up many replica keys: statistics of the tables looked up that match their rows."""
    if keys >= ANALYZE_MIN_ROWS:
        replica_rows.analyze(conn)
        transfer_rows.analyze(conn)


def queue_transfers(conn: Connection, rule: RuleRow, placements: Sequence[Placement]) -> int:
    """A QUEUED transfer per missing replica, unless one is already active for it."""
    now = utcnow()
    active = transfer_rows.active_to(conn, [p.key for p in placements])
    request = Request(rule.id, rule.activity, rule.priority, rule.source_replica_expression)
    rows, seen = [], set()
    for p in placements:
        if p.key in active or p.key in seen:
            continue
        seen.add(p.key)
        rows.append(transfer_rows.new_transfer(p.file, p.rse_id, request, now))
    if rows:
        transfer_rows.queue(conn, rows)
        transfer_rows.analyze(conn, pending=len(rows))
        record_many(conn, [_queued_event(row) for row in rows])
    return len(rows)


def _queued_event(row: TransferRow) -> dict[str, Any]:
    return event_row(
        "transfer.queued",
        scope=row.scope,
        name=row.name,
        rule_id=row.rule_id,
        transfer_id=row.id,
        bytes=row.bytes,
        activity=row.activity,
    )


def release_locks(conn: Connection, rule_id: str, purge: bool, keys: Sequence[ReplicaKey] | None = None) -> int:
    """Remove a rule's locks (all, or those on the given (rse_id, scope, name)); tombstone orphans."""
    held = [lock.key for lock in lock_rows.held(conn, rule_id)]
    if keys is None:
        lock_rows.release(conn, rule_id)
    else:
        wanted = set(keys)
        held = [k for k in held if k in wanted]
        lock_rows.release(conn, rule_id, held)
    _fresh_statistics(conn, len(held))
    _count_released_locks(conn, held, purge)
    return len(held)


def _count_released_locks(conn: Connection, keys: Sequence[ReplicaKey], purge: bool) -> None:
    """One lock fewer on each replica (keys are distinct: the released locks of one rule); replicas left
    without locks get their tombstone in the same UPDATE, as `tombstone_unlocked` gives them, and their
    pending transfers are cancelled."""
    now = utcnow()
    replica_rows.unlock(conn, keys, purge, now)
    transfer_rows.cancel_unwanted(conn, keys, now)


def tombstone_unlocked(conn: Connection, keys: Sequence[ReplicaKey], purge: bool) -> None:
    """Replicas whose last lock went away become deletable: OBSOLETE if purged or never completed,
    otherwise their last access (LRU order for the reaper). Their pending transfers are cancelled."""
    now = utcnow()
    replica_rows.tombstone_unlocked(conn, keys, purge, now)
    transfer_rows.cancel_unwanted(conn, keys, now)


def refresh_rules(conn: Connection, rule_ids: Iterable[str]) -> None:
    """Recount locks per state and derive each rule's state (SUSPENDED rules keep theirs).

    The rule rows are held first (`db.rules.hold`), so two transactions changing locks of one rule recount
    one after the other instead of overwriting each other.
    """
    now = utcnow()
    for chunk in _chunks(sorted(set(rule_ids))):
        rule_rows.hold(conn, chunk)
        for rid, counts in lock_rows.state_counts(conn, chunk).items():
            _store_counts(conn, rid, counts, now)


def move_lock_states(conn: Connection, keys: Sequence[ReplicaKey], state: LockState) -> set[str]:
    """Set every lock on these replicas to `state` and shift their rules' counters by what changed.

    The hot path of a finished or failed transfer: recounting a 100,000-lock rule after each of its files
    would make a rule's transfers quadratic. The counters stay exact because every other change recounts
    (`refresh_rules`). Callers hold the rule rows first (`db.rules.hold_holders`). Returns the rules holding
    these locks.
    """
    now = utcnow()
    held, moved = lock_rows.shift_states(conn, keys, state, now)
    for rid, delta in moved.items():
        stored = rule_rows.counters(conn, rid)
        if stored is not None:
            counts = {lock_state: n + delta.get(lock_state, 0) for lock_state, n in stored.items()}
            _store_counts(conn, rid, counts, now)
    return held


def _store_counts(conn: Connection, rule_id: str, counts: dict[str, int], now: datetime) -> None:
    """Store the counts and the state they imply: STUCK if any lock is, else REPLICATING if any is, else OK."""
    replicating, stuck = (counts.get(s.value, 0) for s in (LockState.REPLICATING, LockState.STUCK))
    state = RuleState.STUCK if stuck else RuleState.REPLICATING if replicating else RuleState.OK
    row = rule_rows.status(conn, rule_id)
    if row is None:
        return
    if row.state == RuleState.SUSPENDED.value:
        rule_rows.store_progress(conn, rule_id, rule_rows.Progress(counts, now))
        return
    newly_stuck = state == RuleState.STUCK and row.state != RuleState.STUCK.value
    progress = rule_rows.Progress(
        counts, now, state, clear_error=state == RuleState.OK, stuck_at=now if newly_stuck else None
    )
    rule_rows.store_progress(conn, rule_id, progress)
    if row.state != state.value:
        record_many(conn, [event_row(f"rule.{state.value.lower()}", rule_id=rule_id, scope=row.scope, name=row.name)])


def set_lock_states(conn: Connection, keys: Sequence[ReplicaKey], state: LockState) -> set[str]:
    """Set every lock on these replicas (any rule) to a state; returns the affected rule ids."""
    return lock_rows.set_states(conn, keys, state, utcnow())
