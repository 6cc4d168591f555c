"""Set-based lookups by (scope, name) keys: grouped by scope so every query is an index range on the
primary key (`scope = :s AND name IN (...)`), in large chunks, whatever the database."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from sqlalchemy import JSON, Column, Connection, Table, and_, any_, bindparam, insert, select, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.types import String

CHUNK = 2000
ANALYZE_MIN_ROWS = 1000  # fewer changed rows leave statistics to autovacuum
ANALYZE_GROWTH = 0.5  # ... and so do changes of at most this share of the rows the statistics know
Key = tuple[str, str]


def by_scope(keys: Iterable[Key]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = defaultdict(list)
    for scope, name in keys:
        grouped[scope].append(name)
    return grouped


def _name_in(conn: Connection, name_col: Column[Any], names: list[Any]) -> Any:
    """`name IN (...)`; on PostgreSQL `name = ANY(:array)`, one parameter instead of thousands."""
    if conn.dialect.name == "postgresql":
        return name_col == any_(bindparam(None, names, type_=ARRAY(String)))
    return name_col.in_(names)


def rows_by_key(
    conn: Connection,
    columns: Sequence[Any],
    scope_col: Column[Any],
    name_col: Column[Any],
    keys: Iterable[Key],
    *where: Any,
) -> dict[Key, Any]:
    """The rows whose (scope_col, name_col) is one of `keys` (and match `where`), by key.

    `columns` must include `name_col`.
    """
    found: dict[Key, Any] = {}
    for scope, names in by_scope(keys).items():
        for start in range(0, len(names), CHUNK):
            query = select(*columns).where(
                scope_col == scope, _name_in(conn, name_col, names[start : start + CHUNK]), *where
            )
            for row in conn.execute(query):
                found[(scope, row._mapping[name_col])] = row
    return found


def present_keys(
    conn: Connection, scope_col: Column[Any], name_col: Column[Any], keys: Iterable[Key], *where: Any
) -> set[Key]:
    """Which of `keys` have a row (matching `where`)."""
    present: set[Key] = set()
    for scope, names in by_scope(keys).items():
        for start in range(0, len(names), CHUNK):
            query = select(name_col).where(
                scope_col == scope, _name_in(conn, name_col, names[start : start + CHUNK]), *where
            )
            present.update((scope, name) for name in conn.execute(query).scalars())
    return present


def insert_rows(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Bulk insert: PostgreSQL's COPY (one round trip, no per-row statements), executemany elsewhere."""
    if not rows:
        return
    if conn.dialect.name != "postgresql":
        conn.execute(insert(table), list(rows))
        return
    from psycopg.types.json import Json

    names = list(rows[0])
    json_columns = {name for name in names if isinstance(table.c[name].type, JSON)}
    raw = conn.connection.driver_connection
    statement = f"COPY {table.name} ({', '.join(names)}) FROM STDIN"
    with raw.cursor() as cursor, cursor.copy(statement) as copy:  # type: ignore[union-attr]
        for row in rows:
            copy.write_row([Json(row[n]) if n in json_columns and row[n] is not None else row[n] for n in names])


def key_conditions(conn: Connection, columns: Sequence[Column[Any]], keys: Iterable[tuple[Any, ...]]) -> Iterator[Any]:
    """WHERE clauses covering `keys` (tuples matching `columns`): equality on all but the last column and
    IN/ANY on the last, in chunks. Row-value `IN ((a, b), ...)` lists scan whole tables on SQLite and take
    ~100 ms to plan on PostgreSQL; these are index range lookups on both."""
    *leading, last = columns
    groups: dict[tuple[Any, ...], list[Any]] = defaultdict(list)
    for key in keys:
        groups[tuple(key[:-1])].append(key[-1])
    for prefix, values in groups.items():
        for start in range(0, len(values), CHUNK):
            equal = [column == value for column, value in zip(leading, prefix, strict=True)]
            yield and_(*equal, _name_in(conn, last, values[start : start + CHUNK]))


def refresh_statistics(conn: Connection, table: Table, pending: int = 0) -> None:
    """PostgreSQL: ANALYZE `table` now if the rows changed since its last ANALYZE (committed ones, plus
    `pending` rows this transaction just wrote) are many for what its statistics know.

    A table filled in bulk has no or stale statistics until autovacuum catches up (a minute or more), and
    PostgreSQL then plans key lookups on it (`rse_id = :r AND scope = :s AND name = ANY(:names)`) as a scan
    of the leading columns with the array as a filter: seconds per 2,000-key chunk on 100,000 rows instead
    of milliseconds. Callers about to look up many keys call this first; ANALYZE in the transaction sees
    its own rows (about 50 ms on 10,000). SKIP_LOCKED: if another transaction (or autovacuum) is analyzing
    the table, go on with the statistics there are rather than wait (or deadlock) for its lock."""
    if conn.dialect.name != "postgresql":
        return
    conn.execute(text("SELECT pg_stat_clear_snapshot()"))  # counters read fresh, not cached for the transaction
    query = text("SELECT reltuples, pg_stat_get_mod_since_analyze(oid) FROM pg_class WHERE oid = CAST(:t AS regclass)")
    row = conn.execute(query, {"t": table.name}).one()
    changed = (row[1] or 0) + pending
    if changed >= ANALYZE_MIN_ROWS and (row[0] < 0 or changed > ANALYZE_GROWTH * row[0]):
        conn.execute(text(f"ANALYZE (SKIP_LOCKED) {table.name}"))
