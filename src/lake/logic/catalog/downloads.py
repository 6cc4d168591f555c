"""Download plans: for every file, its available replicas best first, each with a read token."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import groupby
from typing import Any

from sqlalchemy import Connection

from lake.core.models import DIDRef, DownloadFile, ReplicaState, SourceReplica
from lake.core.scopes import StorageOp
from lake.logic.auth.issuer import TokenIssuer, storage_audience
from lake.logic.auth.policy import Caller
from lake.logic.catalog.replicas import RSEAccess, read_access, replica_query


def download_plan(conn: Connection, caller: Caller, ref: DIDRef, rse_expression: str | None,
                  issuer: TokenIssuer) -> Iterator[DownloadFile]:  # fmt: skip
    """Readable AVAILABLE replicas per file, ranked by protocol priority then RSE name.

    Read tokens cover the scope's directory on each RSE and are minted once per (RSE, scope).
    """
    access = {k: v for k, v in read_access(conn).items() if v is not None and v.rse.availability_read}
    query = replica_query(conn, ref, rse_expression, ReplicaState.AVAILABLE.value)
    query = query.order_by(query.selected_columns.scope, query.selected_columns.name)
    tokens: dict[tuple[str, str], str] = {}
    for (scope, name), group in groupby(conn.execute(query), key=lambda r: (r.scope, r.name)):
        rows = [r for r in group if r.rse_id in access]
        rows.sort(key=lambda r: (access[r.rse_id].protocol.wan.read or 99, access[r.rse_id].rse.name))
        sources = [_source(access[r.rse_id], r, caller, issuer, tokens) for r in rows]
        first = rows[0] if rows else None
        yield DownloadFile(
            scope=scope, name=name, bytes=first.bytes if first else None, adler32=first.adler32 if first else None,
            md5=first.md5 if first else None, sources=sources,
        )  # fmt: skip


def _source(
    access: RSEAccess, row: Any, caller: Caller, issuer: TokenIssuer, tokens: dict[tuple[str, str], str]
) -> SourceReplica:
    """A replica's PFN with a read token for its scope's directory on that RSE (minted once per directory)."""
    pfn = access.pfn(row.scope, row.name, row.path)
    directory = row.path.rsplit("/", 1)[0] if row.path else access.scope_url_path(row.scope)
    key = (access.rse.id, directory)
    if key not in tokens:
        tokens[key] = issuer.storage_token(caller.account, storage_audience(pfn), StorageOp.READ, [directory])
    return SourceReplica(rse=access.rse.name, pfn=pfn, token=tokens[key])
