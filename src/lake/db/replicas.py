"""The `replicas` table's owner: every INSERT, UPDATE and DELETE of a replica row is one of these operations.

Replicas carry the replication state machine (COPYING -> AVAILABLE -> BEING_DELETED, lock counts, tombstones)
and used to be written from five logic domains. Each operation here takes a batch of keys or rows and issues
one statement per chunk (`key_conditions`: an index range per (rse_id, scope) prefix), so callers never loop
one row per round trip. The caller passes the connection: transactions stay at the edge.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import Connection, and_, bindparam, case, delete, exists, func, insert, or_, select, tuple_, update

from lake.core.clock import utcnow
from lake.core.models import ReplicaState
from lake.core.states import ACTIVE_TRANSFER, OBSOLETE
from lake.db import schema as t
from lake.db.bulk import Key, insert_rows, key_conditions, refresh_statistics
from lake.db.schema_replication import transfers

ReplicaKey = tuple[str, str, str]  # (rse_id, scope, name)
BEING_DELETED = ReplicaState.BEING_DELETED.value
AVAILABLE = ReplicaState.AVAILABLE.value


class FileFacts(Protocol):
    """What a new replica copies from its file: a FileIn, a rule's file or a transfer row all have it."""

    @property
    def scope(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def bytes(self) -> int: ...
    @property
    def adler32(self) -> str | None: ...
    @property
    def md5(self) -> str | None: ...


@dataclass
class ReplicaRow:
    """One row of `replicas`, as inserted (not frozen: built by the hundred thousand, a frozen one costs 2.5x)."""

    rse_id: str
    scope: str
    name: str
    bytes: int
    adler32: str | None
    md5: str | None
    path: str | None
    state: str
    lock_cnt: int
    tombstone: datetime | None
    accessed_at: datetime | None
    created_at: datetime
    updated_at: datetime


def new_replica(rse_id: str, file: FileFacts, state: ReplicaState, now: datetime) -> ReplicaRow:
    """A replica of `file` on the RSE: no path (lfn2pfn decides), no lock, no tombstone."""
    return ReplicaRow(
        rse_id, file.scope, file.name, file.bytes, file.adler32, file.md5, None, state.value, 0, None, None, now, now
    )


def add(conn: Connection, rows: Sequence[ReplicaRow]) -> None:
    """Insert new replicas in bulk (COPY on PostgreSQL); the caller checked they do not exist."""
    insert_rows(conn, t.replicas, [dict(vars(row)) for row in rows])


def analyze(conn: Connection, pending: int = 0) -> None:
    """Keep the planner's statistics true before many key lookups (see `bulk.refresh_statistics`)."""
    refresh_statistics(conn, t.replicas, pending=pending)


def states(conn: Connection, keys: Sequence[ReplicaKey]) -> dict[ReplicaKey, str]:
    """The state of each replica among `keys` that exists."""
    r = t.replicas.c
    found: dict[ReplicaKey, str] = {}
    for where in key_conditions(conn, (r.rse_id, r.scope, r.name), keys):
        query = select(r.rse_id, r.scope, r.name, r.state).where(where)
        found.update({(a, b, c): s for a, b, c, s in conn.execute(query)})
    return found


def state_of(conn: Connection, key: ReplicaKey) -> str | None:
    """One replica's state (None: no such replica), by primary key."""
    r = t.replicas.c
    return conn.execute(select(r.state).where(r.rse_id == key[0], r.scope == key[1], r.name == key[2])).scalar()


def lock(conn: Connection, keys: Sequence[ReplicaKey]) -> None:
    """One lock more on each replica, which loses any tombstone. Keys must be distinct (one new lock each)."""
    r = t.replicas.c
    for where in key_conditions(conn, (r.rse_id, r.scope, r.name), keys):
        conn.execute(update(t.replicas).where(where).values(lock_cnt=r.lock_cnt + 1, tombstone=None))


def unlock(conn: Connection, keys: Sequence[ReplicaKey], purge: bool, now: datetime) -> None:
    """One lock fewer on each replica (distinct keys: released locks of one rule); a replica left without locks
    gets its tombstone in the same UPDATE: OBSOLETE if purged or never completed, else its last access (LRU)."""
    r = t.replicas.c
    unlocked = r.lock_cnt <= 1
    available = r.state == AVAILABLE
    lru = OBSOLETE if purge else func.coalesce(r.accessed_at, r.created_at)
    values = {
        "lock_cnt": case((unlocked, 0), else_=r.lock_cnt - 1),
        "tombstone": case((~unlocked, r.tombstone), (available, lru), else_=OBSOLETE),
        "updated_at": case((and_(unlocked, ~available), now), else_=r.updated_at),
    }
    for where in key_conditions(conn, (r.rse_id, r.scope, r.name), keys):
        conn.execute(update(t.replicas).where(where).values(**values))


def tombstone_unlocked(conn: Connection, keys: Sequence[ReplicaKey], purge: bool, now: datetime) -> None:
    """Those of these replicas without locks become deletable, as `unlock` leaves them."""
    r = t.replicas.c
    for where in key_conditions(conn, (r.rse_id, r.scope, r.name), keys):
        unlocked = and_(where, r.lock_cnt <= 0)
        conn.execute(
            update(t.replicas)
            .where(unlocked, r.state != AVAILABLE)
            .values(tombstone=OBSOLETE, lock_cnt=0, updated_at=now)
        )
        lru = OBSOLETE if purge else func.coalesce(r.accessed_at, r.created_at)
        conn.execute(update(t.replicas).where(unlocked, r.state == AVAILABLE).values(tombstone=lru, lock_cnt=0))


def obsolete(conn: Connection, keys: Sequence[Key], now: datetime) -> int:
    """Unlocked replicas of these files, anywhere, get OBSOLETE tombstones (unless being deleted); how many."""
    r = t.replicas.c
    marked = 0
    for where in key_conditions(conn, (r.scope, r.name), keys):
        statement = update(t.replicas).where(where, r.lock_cnt <= 0, r.state != BEING_DELETED)
        marked += conn.execute(statement.values(tombstone=OBSOLETE, updated_at=now)).rowcount or 0
    return marked


def touch_copying(conn: Connection, keys: Sequence[ReplicaKey], now: datetime) -> None:
    """COPYING replicas among `keys` restart (a retried upload): their timestamp is refreshed."""
    r = t.replicas.c
    for where in key_conditions(conn, (r.rse_id, r.scope, r.name), keys):
        conn.execute(update(t.replicas).where(where, r.state == ReplicaState.COPYING.value).values(updated_at=now))


def mark_uploaded(conn: Connection, keys: Sequence[ReplicaKey], if_state: str, now: datetime) -> None:
    """Verified uploads: compare-and-set `if_state` -> AVAILABLE; the upload counts as the first access."""
    r = t.replicas.c
    for where in key_conditions(conn, (r.rse_id, r.scope, r.name), keys):
        statement = update(t.replicas).where(where, r.state == if_state)
        conn.execute(statement.values(state=AVAILABLE, updated_at=now, accessed_at=now))


def mark_available(conn: Connection, keys: Sequence[ReplicaKey], now: datetime) -> None:
    """Copied and verified by a transfer: the replicas are AVAILABLE."""
    r = t.replicas.c
    for where in key_conditions(conn, (r.rse_id, r.scope, r.name), keys):
        conn.execute(update(t.replicas).where(where).values(state=AVAILABLE, updated_at=now))


def remove(conn: Connection, keys: Sequence[ReplicaKey], if_state: str | None = None) -> int:
    """Delete replica rows outright (no tombstone, no reaper), only those still in `if_state` if given."""
    r = t.replicas.c
    removed = 0
    for where in key_conditions(conn, (r.rse_id, r.scope, r.name), keys):
        condition = where if if_state is None else and_(where, r.state == if_state)
        removed += conn.execute(delete(t.replicas).where(condition)).rowcount or 0
    return removed


def ensure(conn: Connection, row: ReplicaRow) -> None:
    """A replica wanted for a while (a hop's intermediate): an existing one loses its tombstone (its state
    stays), a missing one is inserted as `row`."""
    r = t.replicas.c
    where = (r.rse_id == row.rse_id) & (r.scope == row.scope) & (r.name == row.name)
    if conn.execute(update(t.replicas).where(where).values(tombstone=None, updated_at=row.updated_at)).rowcount:
        return
    conn.execute(insert(t.replicas).values(**vars(row)))


def used_bytes(conn: Connection, rse_id: str) -> int:
    """Bytes of every replica on the RSE, as the catalog knows them."""
    r = t.replicas.c
    return int(conn.execute(select(func.coalesce(func.sum(r.bytes), 0)).where(r.rse_id == rse_id)).scalar_one())


# --- deletion: the reaper's claim, outcome and rollback ------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    """A replica the reaper may delete, with the state and timestamp its claim compares against."""

    scope: str
    name: str
    bytes: int
    path: str | None
    state: str
    tombstone: datetime
    updated_at: datetime


def deletable(
    conn: Connection, rse_id: str, cursor: tuple[datetime, str, str] | None, chunk: int, stale_after: timedelta
) -> list[Candidate]:
    """Eligible replicas after the keyset cursor, oldest tombstone first: unlocked, tombstone in the past, not
    being deleted (unless untouched for `stale_after`), and no transfer still writing them (dark data)."""
    r, x = t.replicas.c, transfers.c
    now = utcnow()
    writing = exists().where(
        x.dest_rse_id == r.rse_id, x.scope == r.scope, x.name == r.name, x.state.in_(ACTIVE_TRANSFER)
    )
    query = select(r.scope, r.name, r.bytes, r.path, r.state, r.tombstone, r.updated_at).where(
        r.rse_id == rse_id,
        r.lock_cnt <= 0,
        r.tombstone.is_not(None),
        r.tombstone < now,
        or_(r.state != BEING_DELETED, r.updated_at < now - stale_after),
        ~writing,
    )
    if cursor is not None:
        query = query.where(tuple_(r.tombstone, r.scope, r.name) > tuple_(*cursor))
    rows = conn.execute(query.order_by(r.tombstone, r.scope, r.name).limit(chunk))
    return [Candidate(*row) for row in rows]


def claim_for_deletion(conn: Connection, rse_id: str, taken: Sequence[Candidate]) -> set[Key]:
    """BEING_DELETED for the rows unchanged since they were read (same state and timestamp, still unlocked);
    returns the keys claimed."""
    r = t.replicas.c
    stamp = utcnow()
    statement = (
        update(t.replicas)
        .where(
            r.rse_id == rse_id,
            r.scope == bindparam("k_scope"),
            r.name == bindparam("k_name"),
            r.state == bindparam("k_state"),
            r.updated_at == bindparam("k_updated"),
            r.lock_cnt <= 0,
            r.tombstone.is_not(None),
        )
        .values(state=BEING_DELETED, updated_at=stamp)
    )
    conn.execute(
        statement,
        [{"k_scope": c.scope, "k_name": c.name, "k_state": c.state, "k_updated": c.updated_at} for c in taken],
    )
    query = select(r.scope, r.name).where(
        r.rse_id == rse_id,
        tuple_(r.scope, r.name).in_([(c.scope, c.name) for c in taken]),
        r.state == BEING_DELETED,
        r.updated_at == stamp,
    )
    return {(s, n) for s, n in conn.execute(query)}


def remove_deleted(conn: Connection, rse_id: str, keys: Sequence[Key]) -> None:
    """Deleted on storage: the rows go, except those locked meanwhile, which become COPYING to be refilled."""
    r = t.replicas.c
    mine = (r.rse_id == rse_id, tuple_(r.scope, r.name).in_(list(keys)), r.state == BEING_DELETED)
    conn.execute(
        update(t.replicas)
        .where(*mine, r.lock_cnt > 0)
        .values(state=ReplicaState.COPYING.value, tombstone=None, updated_at=utcnow())
    )
    conn.execute(delete(t.replicas).where(*mine))


def restore(conn: Connection, rse_id: str, failed: Sequence[Candidate]) -> None:
    """Not deleted on storage: each row gets back the state it had before the claim."""
    r = t.replicas.c
    statement = (
        update(t.replicas)
        .where(
            r.rse_id == rse_id, r.scope == bindparam("k_scope"), r.name == bindparam("k_name"), r.state == BEING_DELETED
        )
        .values(state=bindparam("k_state"), updated_at=utcnow())
    )
    conn.execute(statement, [{"k_scope": c.scope, "k_name": c.name, "k_state": c.state} for c in failed])
