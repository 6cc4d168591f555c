"""Locks: one per (rule, file, RSE). Creating them creates the wanted replicas and transfer requests;
releasing them tombstones replicas nobody wants any more. All operations are set-based (bulk)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import islice
from typing import Any

from sqlalchemy import Connection, and_, case, delete, func, select, update

from lake.core.clock import utcnow
from lake.core.models import ReplicaState
from lake.core.partition import bucket_of
from lake.core.policy import LockState, TransferState
from lake.db import schema as t
from lake.db.bulk import ANALYZE_MIN_ROWS, insert_rows, key_conditions, refresh_statistics
from lake.db.schema_policy import locks, rules, transfers
from lake.logic.monitoring.events import event_row, record_many
from lake.logic.rules.files import RuleFile

CHUNK = 500
ADD_CHUNK = 5_000
ACTIVE_TRANSFER = (TransferState.QUEUED.value, TransferState.SUBMITTED.value, TransferState.WAITING.value)
OBSOLETE = datetime(1970, 1, 1)


@dataclass(frozen=True)
class Placement:
    file: RuleFile
    rse_id: str


def _chunks(items: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]


def _replica_states(conn: Connection, keys: Sequence[tuple[str, str, str]]) -> dict[tuple[str, str, str], str]:
    """(rse_id, scope, name) -> replica state, for the given keys."""
    r = t.replicas.c
    found: dict[tuple[str, str, str], str] = {}
    for where in key_conditions(conn, (r.rse_id, r.scope, r.name), keys):
        query = select(r.rse_id, r.scope, r.name, r.state).where(where)
        found.update({(a, b, c): s for a, b, c, s in conn.execute(query)})
    return found


def _active_transfers(conn: Connection, keys: Sequence[tuple[str, str, str]]) -> set[tuple[str, str, str]]:
    x = transfers.c
    found: set[tuple[str, str, str]] = set()
    for where in key_conditions(conn, (x.dest_rse_id, x.scope, x.name), keys):
        query = select(x.dest_rse_id, x.scope, x.name).where(where, x.state.in_(ACTIVE_TRANSFER), x.hop_of.is_(None))
        found.update((a, b, c) for a, b, c in conn.execute(query))
    return found


def add_locks(conn: Connection, rule: Any, placements: Iterable[Placement]) -> tuple[int, int]:
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


def _add_chunk(conn: Connection, rule: Any, placements: Sequence[Placement]) -> int:
    """`add_locks` for one chunk; returns how many locks are REPLICATING."""
    now = utcnow()
    keys = [(p.rse_id, p.file.scope, p.file.name) for p in placements]
    _fresh_statistics(conn, len(keys))
    states = _replica_states(conn, keys)
    missing = [p for p, key in zip(placements, keys, strict=True) if states.get(key) != "AVAILABLE"]
    lock_rows = [
        {"rule_id": rule.id, "scope": p.file.scope, "name": p.file.name, "rse_id": p.rse_id,
         "account": rule.account, "bytes": p.file.bytes, "repair_cnt": 0, "created_at": now, "updated_at": now,
         "state": LockState.OK.value if states.get(key) == "AVAILABLE" else LockState.REPLICATING.value}
        for p, key in zip(placements, keys, strict=True)
    ]  # fmt: skip
    insert_rows(conn, locks, lock_rows)
    refresh_statistics(conn, locks, pending=len(lock_rows))
    _insert_copying_replicas(conn, [p for p in missing if (p.rse_id, p.file.scope, p.file.name) not in states], now)
    _count_new_locks(conn, keys)
    queue_transfers(conn, rule, missing)
    return len(missing)


def _fresh_statistics(conn: Connection, keys: int) -> None:
    """Before looking up many replica keys: statistics of the tables looked up that match their rows."""
    if keys >= ANALYZE_MIN_ROWS:
        refresh_statistics(conn, t.replicas)
        refresh_statistics(conn, transfers)


def _insert_copying_replicas(conn: Connection, placements: Sequence[Placement], now: datetime) -> None:
    rows = [
        {"rse_id": p.rse_id, "scope": p.file.scope, "name": p.file.name, "bytes": p.file.bytes,
         "adler32": p.file.adler32, "md5": p.file.md5, "path": None, "state": ReplicaState.COPYING.value,
         "lock_cnt": 0, "tombstone": None, "accessed_at": None, "created_at": now, "updated_at": now}
        for p in placements
    ]  # fmt: skip
    insert_rows(conn, t.replicas, rows)
    refresh_statistics(conn, t.replicas, pending=len(rows))


def _count_new_locks(conn: Connection, keys: Sequence[tuple[str, str, str]]) -> None:
    """One lock more on each replica (keys are distinct: each is a new lock of one rule), one UPDATE per chunk."""
    r = t.replicas.c
    for where in key_conditions(conn, (r.rse_id, r.scope, r.name), keys):
        conn.execute(update(t.replicas).where(where).values(lock_cnt=r.lock_cnt + 1, tombstone=None))


def queue_transfers(conn: Connection, rule: Any, placements: Sequence[Placement]) -> int:
    """A QUEUED transfer per missing replica, unless one is already active for it."""
    now = utcnow()
    active = _active_transfers(conn, [(p.rse_id, p.file.scope, p.file.name) for p in placements])
    rows, seen = [], set()
    for p in placements:
        key = (p.rse_id, p.file.scope, p.file.name)
        if key in active or key in seen:
            continue
        seen.add(key)
        transfer_id = uuid.uuid4().hex
        rows.append(
            {"id": transfer_id, "scope": p.file.scope, "name": p.file.name, "dest_rse_id": p.rse_id,
             "source_rse_id": None, "hop_of": None, "rule_id": rule.id, "state": TransferState.QUEUED.value,
             "activity": rule.activity, "priority": rule.priority, "bytes": p.file.bytes, "adler32": p.file.adler32,
             "md5": p.file.md5, "source_replica_expression": rule.source_replica_expression, "attempt": 0,
             "max_attempts": 3, "retry_after": None, "bucket": bucket_of(transfer_id), "worker": None, "mode": None,
             "error_category": None, "error": None, "created_at": now, "submitted_at": None, "finished_at": None,
             "updated_at": now}
        )  # fmt: skip
    if rows:
        insert_rows(conn, transfers, rows)
        refresh_statistics(conn, transfers, pending=len(rows))
        record_many(conn, [_queued_event(row) for row in rows])
    return len(rows)


def _queued_event(row: dict[str, Any]) -> dict[str, Any]:
    return event_row("transfer.queued", scope=row["scope"], name=row["name"], rule_id=row["rule_id"],
                     transfer_id=row["id"], bytes=row["bytes"], activity=row["activity"])  # fmt: skip


def release_locks(
    conn: Connection, rule_id: str, purge: bool, keys: Sequence[tuple[str, str, str]] | None = None
) -> int:
    """Remove a rule's locks (all, or those on the given (rse_id, scope, name)); tombstone orphans."""
    c = locks.c
    rows = conn.execute(select(c.rse_id, c.scope, c.name).where(c.rule_id == rule_id))
    held = [(rse_id, scope, name) for rse_id, scope, name in rows]
    if keys is None:
        conn.execute(delete(locks).where(c.rule_id == rule_id))
    else:
        wanted = set(keys)
        held = [k for k in held if k in wanted]
        for where in key_conditions(conn, (c.rse_id, c.scope, c.name), held):
            conn.execute(delete(locks).where(c.rule_id == rule_id, where))
    _fresh_statistics(conn, len(held))
    _count_released_locks(conn, held, purge)
    return len(held)


def _count_released_locks(conn: Connection, keys: Sequence[tuple[str, str, str]], purge: bool) -> None:
    """One lock fewer on each replica (keys are distinct: the released locks of one rule); replicas left
    without locks get their tombstone in the same UPDATE, as `tombstone_unlocked` gives them, and their
    pending transfers are cancelled."""
    r = t.replicas.c
    now = utcnow()
    unlocked = r.lock_cnt <= 1
    available = r.state == ReplicaState.AVAILABLE.value
    lru = OBSOLETE if purge else func.coalesce(r.accessed_at, r.created_at)
    values = {
        "lock_cnt": case((unlocked, 0), else_=r.lock_cnt - 1),
        "tombstone": case((~unlocked, r.tombstone), (available, lru), else_=OBSOLETE),
        "updated_at": case((and_(unlocked, ~available), now), else_=r.updated_at),
    }
    for where in key_conditions(conn, (r.rse_id, r.scope, r.name), keys):
        conn.execute(update(t.replicas).where(where).values(**values))
    _cancel_unwanted_transfers(conn, keys, now)


def tombstone_unlocked(conn: Connection, keys: Sequence[tuple[str, str, str]], purge: bool) -> None:
    """Replicas whose last lock went away become deletable: OBSOLETE if purged or never completed,
    otherwise their last access (LRU order for the reaper). Their pending transfers are cancelled."""
    r = t.replicas.c
    now = utcnow()
    for where in key_conditions(conn, (r.rse_id, r.scope, r.name), keys):
        unlocked = and_(where, r.lock_cnt <= 0)
        obsolete = purge or None
        conn.execute(
            update(t.replicas)
            .where(unlocked, r.state != ReplicaState.AVAILABLE.value)
            .values(tombstone=OBSOLETE, lock_cnt=0, updated_at=now)
        )
        conn.execute(
            update(t.replicas)
            .where(unlocked, r.state == ReplicaState.AVAILABLE.value)
            .values(tombstone=OBSOLETE if obsolete else func.coalesce(r.accessed_at, r.created_at), lock_cnt=0)
        )
    _cancel_unwanted_transfers(conn, keys, now)


def _cancel_unwanted_transfers(conn: Connection, keys: Sequence[tuple[str, str, str]], now: datetime) -> None:
    """QUEUED or WAITING transfers to these replicas that no lock wants any more become CANCELLED."""
    x = transfers.c
    still_locked = (
        select(locks.c.rse_id)
        .where(locks.c.rse_id == x.dest_rse_id, locks.c.scope == x.scope, locks.c.name == x.name)
        .exists()
    )
    for where in key_conditions(conn, (x.dest_rse_id, x.scope, x.name), keys):
        conn.execute(
            update(transfers)
            .where(where, x.state.in_(("QUEUED", "WAITING")), ~still_locked)
            .values(state=TransferState.CANCELLED.value, finished_at=now, updated_at=now)
        )


def lock_rule_rows(conn: Connection, which: Any) -> None:
    """Hold these rule rows for the rest of the transaction before their counters are read or changed.

    PostgreSQL: SELECT ... FOR UPDATE in id order. SQLite: a no-op UPDATE, because Python's sqlite3 starts
    the transaction only at the first write, so counts read before it could be stale by the time they are
    written (a lost update that would leave a rule REPLICATING for ever); the write takes SQLite's one
    writer lock first, and every read after it sees the latest committed counts.
    """
    if conn.dialect.name == "sqlite":
        conn.execute(update(rules).where(which).values(updated_at=rules.c.updated_at))
    else:
        conn.execute(select(rules.c.id).where(which).order_by(rules.c.id).with_for_update()).all()


def refresh_rules(conn: Connection, rule_ids: Iterable[str]) -> None:
    """Recount locks per state and derive each rule's state (SUSPENDED rules keep theirs).

    The rule rows are locked first (`lock_rule_rows`), so two transactions changing locks of one rule recount
    one after the other instead of overwriting each other.
    """
    now = utcnow()
    for chunk in _chunks(sorted(set(rule_ids))):
        lock_rule_rows(conn, rules.c.id.in_(chunk))
        counts: dict[str, dict[str, int]] = {rid: {} for rid in chunk}
        query = (
            select(locks.c.rule_id, locks.c.state, func.count())
            .where(locks.c.rule_id.in_(chunk))
            .group_by(locks.c.rule_id, locks.c.state)
        )
        for rid, state, n in conn.execute(query):
            counts[rid][state] = n
        for rid, c in counts.items():
            _store_counts(conn, rid, c, now)


_COUNTERS = {LockState.OK.value: "locks_ok_cnt", LockState.REPLICATING.value: "locks_replicating_cnt",
             LockState.STUCK.value: "locks_stuck_cnt"}  # fmt: skip


def move_lock_states(conn: Connection, keys: Sequence[tuple[str, str, str]], state: LockState) -> set[str]:
    """Set every lock on these replicas to `state` and shift their rules' counters by what changed.

    The hot path of a finished or failed transfer: recounting a 100,000-lock rule after each of its files
    would make a rule's transfers quadratic. The counters stay exact because every other change recounts
    (`refresh_rules`). Callers lock the rule rows first (`lock_rule_rows`). Returns the rules holding these
    locks.
    """
    now = utcnow()
    held: set[str] = set()
    moved: dict[str, dict[str, int]] = {}
    for where in key_conditions(conn, (locks.c.rse_id, locks.c.scope, locks.c.name), keys):
        held.update(conn.execute(select(locks.c.rule_id).where(where)).scalars())
        changing = and_(where, locks.c.state != state.value)
        query = select(locks.c.rule_id, locks.c.state, func.count()).where(changing)
        for rid, old, n in conn.execute(query.group_by(locks.c.rule_id, locks.c.state)):
            delta = moved.setdefault(rid, {})
            delta[old] = delta.get(old, 0) - n
            delta[state.value] = delta.get(state.value, 0) + n
        conn.execute(update(locks).where(changing).values(state=state.value, updated_at=now))
    for rid, delta in moved.items():
        row = conn.execute(select(*(rules.c[column] for column in _COUNTERS.values())).where(rules.c.id == rid)).first()
        if row is not None:
            counts = {lock_state: row[i] + delta.get(lock_state, 0) for i, lock_state in enumerate(_COUNTERS)}
            _store_counts(conn, rid, counts, now)
    return held


def _store_counts(conn: Connection, rule_id: str, counts: dict[str, int], now: datetime) -> None:
    ok, replicating, stuck = (counts.get(s.value, 0) for s in (LockState.OK, LockState.REPLICATING, LockState.STUCK))
    state = "STUCK" if stuck else "REPLICATING" if replicating else "OK"
    values: dict[str, Any] = {"locks_ok_cnt": ok, "locks_replicating_cnt": replicating, "locks_stuck_cnt": stuck,
                              "updated_at": now}  # fmt: skip
    row = conn.execute(
        select(rules.c.state, rules.c.account, rules.c.scope, rules.c.name).where(rules.c.id == rule_id)
    ).first()
    if row is None:
        return
    if row.state != "SUSPENDED":
        values["state"] = state
        if state == "OK":
            values.update(error=None, stuck_at=None)
        if state == "STUCK" and row.state != "STUCK":
            values["stuck_at"] = now
    conn.execute(update(rules).where(rules.c.id == rule_id).values(**values))
    if row.state != values.get("state", row.state):
        record_many(
            conn, [event_row(f"rule.{values['state'].lower()}", rule_id=rule_id, scope=row.scope, name=row.name)]
        )


def set_lock_states(conn: Connection, keys: Sequence[tuple[str, str, str]], state: LockState) -> set[str]:
    """Set every lock on these replicas (any rule) to a state; returns the affected rule ids."""
    affected: set[str] = set()
    now = utcnow()
    for where in key_conditions(conn, (locks.c.rse_id, locks.c.scope, locks.c.name), keys):
        affected.update(conn.execute(select(locks.c.rule_id).where(where)).scalars())
        conn.execute(update(locks).where(where).values(state=state.value, updated_at=now))
    return affected
