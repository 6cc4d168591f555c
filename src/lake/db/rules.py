"""The `rules` table's owner: typed rule rows, the one builder of a new rule, and every write to the table.

Logic decides what a rule is and which state its lock counts imply; these operations store it. Rows travel
as `RuleRow`, so placement and lock creation can use a rule that is not stored yet (`add_rule` decides
before its first write). The caller passes the connection: transactions stay at the edge.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypedDict

from sqlalchemy import Connection, and_, delete, insert, select, update

from lake.core.replication import LockState, RuleIn, RuleState
from lake.db.bulk import Key, key_conditions
from lake.db.schema_replication import locks, rules

ReplicaKey = tuple[str, str, str]  # (rse_id, scope, name)
COUNTERS = {
    LockState.OK.value: "locks_ok_cnt",
    LockState.REPLICATING.value: "locks_replicating_cnt",
    LockState.STUCK.value: "locks_stuck_cnt",
}


@dataclass
class RuleRow:
    """One row of `rules`."""

    id: str
    account: str
    scope: str
    name: str
    did_type: str
    rse_expression: str
    copies: int
    grouping: str
    weight: str | None
    locked: bool
    activity: str
    priority: int
    source_replica_expression: str | None
    purge_replicas: bool
    ignore_account_limit: bool
    state: str
    locks_ok_cnt: int
    locks_replicating_cnt: int
    locks_stuck_cnt: int
    error: str | None
    stuck_at: datetime | None
    expires_at: datetime | None
    child_rule_id: str | None
    comments: str | None
    created_at: datetime
    updated_at: datetime


def new_rule(spec: RuleIn, account: str, did_type: str, state: RuleState, now: datetime, locks_ok: int = 0) -> RuleRow:
    """A new rule of `account` as `spec` asks (lifetime from `now`), not stored yet; `locks_ok` counts the
    locks it is created with already OK (upload rules)."""
    return RuleRow(
        id=uuid.uuid4().hex,
        account=account,
        scope=spec.scope,
        name=spec.name,
        did_type=did_type,
        rse_expression=spec.rse_expression,
        copies=spec.copies,
        grouping=spec.grouping.value,
        weight=spec.weight,
        locked=spec.locked,
        activity=spec.activity,
        priority=spec.priority,
        source_replica_expression=spec.source_replica_expression,
        purge_replicas=spec.purge_replicas,
        ignore_account_limit=spec.ignore_account_limit,
        state=state.value,
        locks_ok_cnt=locks_ok,
        locks_replicating_cnt=0,
        locks_stuck_cnt=0,
        error=None,
        stuck_at=None,
        expires_at=now + timedelta(seconds=spec.lifetime) if spec.lifetime else None,
        child_rule_id=None,
        comments=spec.comments,
        created_at=now,
        updated_at=now,
    )


def insert_rules(conn: Connection, rows: Sequence[RuleRow]) -> None:
    """Store new rules, in one statement."""
    if rows:
        conn.execute(insert(rules), [dict(vars(row)) for row in rows])


def delete_rule(conn: Connection, rule_id: str) -> None:
    conn.execute(delete(rules).where(rules.c.id == rule_id))


# --- reads ---------------------------------------------------------------------------------------------------


def get(conn: Connection, rule_id: str, for_update: bool = False) -> RuleRow | None:
    """The rule, or None; `for_update` holds its row for the rest of the transaction (PostgreSQL)."""
    query = select(rules).where(rules.c.id == rule_id)
    row = conn.execute(query.with_for_update() if for_update else query).first()
    return None if row is None else rule_row(row)


def search(
    conn: Connection,
    account: str | None = None,
    scope: str | None = None,
    name: str | None = None,
    state: str | None = None,
) -> Iterator[RuleRow]:
    """Rules matching every filter given, oldest first."""
    query = select(rules).order_by(rules.c.created_at)
    for column, value in (("account", account), ("scope", scope), ("name", name), ("state", state)):
        if value:
            query = query.where(rules.c[column] == value)
    for row in conn.execute(query):
        yield rule_row(row)


def on_did(conn: Connection, scope: str, name: str) -> list[RuleRow]:
    """The rules made for this DID."""
    return [rule_row(row) for row in conn.execute(select(rules).where(rules.c.scope == scope, rules.c.name == name))]


def ids_on(conn: Connection, scope: str, name: str) -> list[str]:
    """The ids of the rules made for this DID."""
    query = select(rules.c.id).where(rules.c.scope == scope, rules.c.name == name)
    return list(conn.execute(query).scalars())


def holding(conn: Connection, scope: str, name: str) -> list[RuleRow]:
    """The rules holding a lock on this file (whichever DID they were made for), oldest first."""
    ids = select(locks.c.rule_id).where(locks.c.scope == scope, locks.c.name == name)
    query = select(rules).where(rules.c.id.in_(ids)).order_by(rules.c.created_at)
    return [rule_row(row) for row in conn.execute(query)]


def duplicate_of(conn: Connection, account: str, scope: str, name: str, rse_expression: str) -> str | None:
    """The id of the account's rule on this DID with this expression, if there is one."""
    r = rules.c
    where = (r.account == account) & (r.scope == scope) & (r.name == name) & (r.rse_expression == rse_expression)
    return conn.execute(select(r.id).where(where)).scalar()


def pinned(conn: Connection, account: str, rse_expression: str, keys: Sequence[Key]) -> set[Key]:
    """Which of these DIDs the account already has a rule on with exactly this expression."""
    r = rules.c
    found: set[Key] = set()
    for where in key_conditions(conn, (r.scope, r.name), keys):
        query = select(r.scope, r.name).where(r.account == account, r.rse_expression == rse_expression, where)
        found.update((s, n) for s, n in conn.execute(query))
    return found


def expired(conn: Connection, now: datetime, limit: int) -> list[RuleRow]:
    """Unlocked rules past their expiry, soonest expired first."""
    query = select(rules).where(rules.c.expires_at < now, rules.c.locked.is_(False)).order_by(rules.c.expires_at)
    return [rule_row(row) for row in conn.execute(query.limit(limit))]


def moved(conn: Connection, limit: int) -> list[RuleRow]:
    """Rules whose child rule (a move) is OK: the move is complete."""
    child = rules.alias("child")
    query = (
        select(rules)
        .join(child, and_(child.c.id == rules.c.child_rule_id, child.c.state == RuleState.OK.value))
        .order_by(rules.c.updated_at)
    )
    return [rule_row(row) for row in conn.execute(query.limit(limit))]


def rule_row(row: Any) -> RuleRow:
    """A database row of `rules` as a RuleRow."""
    return RuleRow(**row._mapping)


# --- holding rule rows while their counters change -----------------------------------------------------------


def hold(conn: Connection, rule_ids: Sequence[str]) -> None:
    """Hold these rule rows for the rest of the transaction before their counters are read or changed.

    PostgreSQL: SELECT ... FOR UPDATE in id order. SQLite: a no-op UPDATE, because Python's sqlite3 starts
    the transaction only at the first write, so counts read before it could be stale by the time they are
    written (a lost update that would leave a rule REPLICATING for ever); the write takes SQLite's one
    writer lock first, and every read after it sees the latest committed counts.
    """
    _hold(conn, rules.c.id.in_(list(rule_ids)))


def hold_holders(conn: Connection, key: ReplicaKey) -> None:
    """`hold` the rules that have a lock on this replica."""
    rse_id, scope, name = key
    holders = select(locks.c.rule_id).where(locks.c.rse_id == rse_id, locks.c.scope == scope, locks.c.name == name)
    _hold(conn, rules.c.id.in_(holders))


def hold_holders_of(conn: Connection, keys: Sequence[ReplicaKey]) -> None:
    """`hold` the rules that have a lock on any of these replicas, in one statement (their ids in order)."""
    k = locks.c
    found: set[str] = set()
    for where in key_conditions(conn, (k.rse_id, k.scope, k.name), keys):
        found |= set(conn.execute(select(k.rule_id).where(where).distinct()).scalars())
    if found:
        hold(conn, sorted(found))


def _hold(conn: Connection, which: Any) -> None:
    if conn.dialect.name == "sqlite":
        conn.execute(update(rules).where(which).values(updated_at=rules.c.updated_at))
    else:
        conn.execute(select(rules.c.id).where(which).order_by(rules.c.id).with_for_update()).all()


# --- counters and state --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Status:
    """What a recount needs to know of its rule."""

    state: str
    account: str
    scope: str
    name: str


def status(conn: Connection, rule_id: str) -> Status | None:
    r = rules.c
    row = conn.execute(select(r.state, r.account, r.scope, r.name).where(r.id == rule_id)).first()
    return None if row is None else Status(*row)


def counters(conn: Connection, rule_id: str) -> dict[str, int] | None:
    """The rule's stored lock counts by lock state, or None if the rule is gone."""
    row = conn.execute(select(*(rules.c[column] for column in COUNTERS.values())).where(rules.c.id == rule_id)).first()
    return None if row is None else {lock_state: row[i] for i, lock_state in enumerate(COUNTERS)}


@dataclass(frozen=True)
class Progress:
    """What a recount stores: the counts and, unless the rule keeps its state (SUSPENDED), the state."""

    counts: dict[str, int]  # lock state -> locks
    now: datetime
    state: RuleState | None = None
    clear_error: bool = False  # the rule is OK: its error and stuck time go
    stuck_at: datetime | None = None  # the rule has just become STUCK


def store_progress(conn: Connection, rule_id: str, progress: Progress) -> None:
    values: dict[str, Any] = {column: progress.counts.get(state, 0) for state, column in COUNTERS.items()}
    values["updated_at"] = progress.now
    if progress.state is not None:
        values["state"] = progress.state.value
    if progress.clear_error:
        values.update(error=None, stuck_at=None)
    if progress.stuck_at is not None:
        values["stuck_at"] = progress.stuck_at
    _set(conn, rule_id, values)


class Settings(TypedDict, total=False):
    """What an owner may change on a rule; absent keys stay as they are."""

    expires_at: datetime | None
    locked: bool
    activity: str
    priority: int
    comments: str | None
    state: str  # SUSPENDED, when the owner suspends the rule


def change_settings(conn: Connection, rule_id: str, settings: Settings, now: datetime) -> None:
    _set(conn, rule_id, {**settings, "updated_at": now})


def set_state(conn: Connection, rule_id: str, state: RuleState, now: datetime | None = None) -> None:
    """The rule's state (SUSPENDED, or back to REPLICATING before a recount); `now` also stamps it."""
    _set(conn, rule_id, {"state": state.value} if now is None else {"state": state.value, "updated_at": now})


def set_copies(conn: Connection, rule_id: str, copies: int, now: datetime) -> None:
    _set(conn, rule_id, {"copies": copies, "updated_at": now})


def set_child(conn: Connection, rule_id: str, child_id: str, now: datetime) -> None:
    """The rule is being moved: `child_id` replicates to the new RSEs."""
    _set(conn, rule_id, {"child_rule_id": child_id, "updated_at": now})


def set_error(conn: Connection, rule_ids: Sequence[str], error: str) -> None:
    """The same error on each of these rules (a transfer they all wanted failed for good)."""
    conn.execute(update(rules).where(rules.c.id.in_(sorted(rule_ids))).values(error=error[:4000]))


def forget_lost_children(conn: Connection, now: datetime) -> int:
    """Rules whose child rule no longer exists forget it (the move was abandoned); how many."""
    existing = rules.alias("existing")
    result = conn.execute(
        update(rules)
        .where(rules.c.child_rule_id.is_not(None), rules.c.child_rule_id.not_in(select(existing.c.id)))
        .values(child_rule_id=None, updated_at=now)
    )
    return result.rowcount or 0


def _set(conn: Connection, rule_id: str, values: dict[str, Any]) -> None:
    conn.execute(update(rules).where(rules.c.id == rule_id).values(**values))
