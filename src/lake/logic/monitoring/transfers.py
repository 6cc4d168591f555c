"""Read-only monitoring queries: transfer requests with RSE names, and what each RSE holds per replica state."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import Connection, func, or_, select

from lake.core.errors import InvalidInput
from lake.core.monitoring import RSEUsageOut, StateUsage
from lake.core.replication import ErrorCategory, TransferOut, TransferState
from lake.db import schema as t
from lake.db.schema_replication import transfers
from lake.logic.catalog import rses

DEFAULT_LIMIT = 1000


def list_transfers(
    conn: Connection,
    state: str | None = None,
    rule_id: str | None = None,
    scope: str | None = None,
    name: str | None = None,
    rse: str | None = None,
    limit: int | None = DEFAULT_LIMIT,
) -> Iterator[TransferOut]:
    """Transfers newest first, filtered by state, rule, DID or an RSE at either end of the link."""
    source, dest = t.rses.alias("source"), t.rses.alias("dest")
    x = transfers.c
    query = (
        select(transfers, source.c.name.label("source_name"), dest.c.name.label("dest_name"))
        .outerjoin(source, source.c.id == x.source_rse_id)
        .outerjoin(dest, dest.c.id == x.dest_rse_id)
        .order_by(x.created_at.desc(), x.id)
    )
    if state:
        query = query.where(x.state == _state(state))
    for column, value in (("rule_id", rule_id), ("scope", scope), ("name", name)):
        if value:
            query = query.where(x[column] == value)
    if rse:
        rse_id = rses.rse_id(conn, rse)
        query = query.where(or_(x.source_rse_id == rse_id, x.dest_rse_id == rse_id))
    if limit:
        query = query.limit(limit)
    for row in conn.execute(query):
        yield _transfer_out(row)


def _state(text: str) -> str:
    try:
        return TransferState(text.upper()).value
    except ValueError:
        raise InvalidInput(f"unknown transfer state {text!r}: one of {', '.join(TransferState)}") from None


def _transfer_out(row: Any) -> TransferOut:
    return TransferOut(
        id=row.id,
        scope=row.scope,
        name=row.name,
        source_rse=row.source_name or row.source_rse_id,
        dest_rse=row.dest_name or row.dest_rse_id,
        state=TransferState(row.state),
        activity=row.activity,
        bytes=row.bytes,
        attempt=row.attempt,
        mode=row.mode,
        error_category=ErrorCategory(row.error_category) if row.error_category else None,
        error=row.error,
        rule_id=row.rule_id,
        created_at=row.created_at,
        finished_at=row.finished_at,
    )


def rse_usage(conn: Connection, rse: str) -> RSEUsageOut:
    """Files and bytes of the replicas on one RSE, per replica state, counted from the catalog."""
    rse_id = rses.rse_id(conn, rse)
    r = t.replicas.c
    query = (
        select(r.state, func.count(), func.coalesce(func.sum(r.bytes), 0))
        .where(r.rse_id == rse_id)
        .group_by(r.state)
        .order_by(r.state)
    )
    states = [StateUsage(state=state, files=int(n), bytes=int(size)) for state, n, size in conn.execute(query)]
    return RSEUsageOut(rse=rse, files=sum(s.files for s in states), bytes=sum(s.bytes for s in states), by_state=states)
