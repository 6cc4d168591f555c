"""The `locks` table's owner: one lock per (rule, file, RSE), and every write to it.

Locks are what a rule holds; their states (REPLICATING, OK, STUCK) are counted into the rule's counters by
logic (`lake.logic.rules.locks`), which decides; these operations only read and write rows, in batches
(a list of keys in, one statement per chunk out). The caller passes the connection.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, delete, func, select, update

from lake.core.replication import LockState
from lake.db.bulk import insert_rows, key_conditions, refresh_statistics
from lake.db.schema_replication import locks

ReplicaKey = tuple[str, str, str]  # (rse_id, scope, name)
LockKey = tuple[str, str, str, str]  # (rule_id, rse_id, scope, name)
Counts = dict[str, dict[str, int]]  # rule id -> lock state -> number of locks


@dataclass
class LockRow:
    """One row of `locks` (not frozen: built by the hundred thousand)."""

    rule_id: str
    scope: str
    name: str
    rse_id: str
    account: str
    bytes: int
    state: str
    repair_cnt: int
    created_at: datetime
    updated_at: datetime

    @property
    def key(self) -> ReplicaKey:
        """The replica this lock holds."""
        return (self.rse_id, self.scope, self.name)


def new_lock(rule_id: str, account: str, key: ReplicaKey, size: int, state: LockState, now: datetime) -> LockRow:
    """A fresh lock of the rule on the replica `key`, never repaired."""
    rse_id, scope, name = key
    return LockRow(rule_id, scope, name, rse_id, account, size, state.value, 0, now, now)


def add(conn: Connection, rows: Sequence[LockRow]) -> None:
    """Insert new locks in bulk (COPY on PostgreSQL)."""
    insert_rows(conn, locks, [dict(vars(row)) for row in rows])


def analyze(conn: Connection, pending: int = 0) -> None:
    """Keep the planner's statistics true after a bulk insert (see `bulk.refresh_statistics`)."""
    refresh_statistics(conn, locks, pending=pending)


@dataclass(frozen=True)
class Held:
    """A lock as its rule sees it: where, and in which state."""

    rse_id: str
    scope: str
    name: str
    state: str

    @property
    def key(self) -> ReplicaKey:
        return (self.rse_id, self.scope, self.name)


def held(conn: Connection, rule_id: str) -> list[Held]:
    """Every lock of the rule."""
    c = locks.c
    query = select(c.rse_id, c.scope, c.name, c.state).where(c.rule_id == rule_id)
    return [Held(*row) for row in conn.execute(query)]


def of_rule(conn: Connection, rule_id: str) -> Iterator[LockRow]:
    """Every lock of the rule, as whole rows."""
    for row in conn.execute(select(locks).where(locks.c.rule_id == rule_id)):
        yield _lock_row(row)


def release(conn: Connection, rule_id: str, keys: Sequence[ReplicaKey] | None = None) -> None:
    """Delete the rule's locks: all of them, or those on these replicas."""
    c = locks.c
    if keys is None:
        conn.execute(delete(locks).where(c.rule_id == rule_id))
        return
    for where in key_conditions(conn, (c.rse_id, c.scope, c.name), keys):
        conn.execute(delete(locks).where(c.rule_id == rule_id, where))


def set_states(conn: Connection, keys: Sequence[ReplicaKey], state: LockState, now: datetime) -> set[str]:
    """Every lock on these replicas (any rule) takes `state`; returns the rules holding them."""
    c = locks.c
    holders: set[str] = set()
    for where in key_conditions(conn, (c.rse_id, c.scope, c.name), keys):
        holders.update(conn.execute(select(c.rule_id).where(where)).scalars())
        conn.execute(update(locks).where(where).values(state=state.value, updated_at=now))
    return holders


def shift_states(
    conn: Connection, keys: Sequence[ReplicaKey], state: LockState, now: datetime
) -> tuple[set[str], Counts]:
    """Every lock on these replicas takes `state`; returns the rules holding them and, per rule, how many
    locks each state gained (or lost: negative), so counters can move without a recount."""
    c = locks.c
    holders: set[str] = set()
    moved: Counts = {}
    for where in key_conditions(conn, (c.rse_id, c.scope, c.name), keys):
        holders.update(conn.execute(select(c.rule_id).where(where)).scalars())
        changing = where & (c.state != state.value)
        query = select(c.rule_id, c.state, func.count()).where(changing).group_by(c.rule_id, c.state)
        for rule_id, old, n in conn.execute(query):
            delta = moved.setdefault(rule_id, {})
            delta[old] = delta.get(old, 0) - n
            delta[state.value] = delta.get(state.value, 0) + n
        conn.execute(update(locks).where(changing).values(state=state.value, updated_at=now))
    return holders, moved


def state_counts(conn: Connection, rule_ids: Sequence[str]) -> Counts:
    """Per rule (each of `rule_ids`, even without locks), its number of locks per state."""
    c = locks.c
    counts: Counts = {rule_id: {} for rule_id in rule_ids}
    query = select(c.rule_id, c.state, func.count()).where(c.rule_id.in_(rule_ids)).group_by(c.rule_id, c.state)
    for rule_id, state, n in conn.execute(query):
        counts[rule_id][state] = n
    return counts


def count_repairs(conn: Connection, keys: Iterable[LockKey]) -> None:
    """One repair more on each of these locks."""
    c = locks.c
    statement = (
        update(locks)
        .where(c.rule_id == bindparam("k_rule"), c.rse_id == bindparam("k_rse"), c.scope == bindparam("k_scope"))
        .where(c.name == bindparam("k_name"))
        .values(repair_cnt=c.repair_cnt + 1)
    )
    params = [{"k_rule": r, "k_rse": rse, "k_scope": s, "k_name": n} for r, rse, s, n in keys]
    if params:
        conn.execute(statement, params)


def stuck(conn: Connection, since: datetime, max_repairs: int, limit: int) -> list[LockRow]:
    """STUCK locks unchanged since `since` with fewer than `max_repairs` repairs, oldest first."""
    c = locks.c
    query = (
        select(locks)
        .where(c.state == LockState.STUCK.value, c.repair_cnt < max_repairs, c.updated_at <= since)
        .order_by(c.updated_at)
        .limit(limit)
    )
    return [_lock_row(row) for row in conn.execute(query)]


def rses_of(conn: Connection, rule_id: str, scope: str, name: str) -> set[str]:
    """The RSEs on which the rule locks this file."""
    c = locks.c
    query = select(c.rse_id).where(c.rule_id == rule_id, c.scope == scope, c.name == name)
    return set(conn.execute(query).scalars())


def _lock_row(row: Any) -> LockRow:
    return LockRow(**row._mapping)
