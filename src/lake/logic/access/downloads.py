"""Download plans: for every file, its available replicas best first, each with a read token.

With the client's site, the URL through each of that site's caches comes first (volatile RSEs, see
lake.logic.cache.routing); its token names the cache and the origin behind it as audiences, because the
cache forwards it. Replicas on volatile RSEs are never offered directly: a cache is reached by site.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from itertools import groupby
from typing import Any

from sqlalchemy import Connection

from lake.core.models import DIDRef, DownloadFile, ReplicaState, SourceReplica
from lake.core.scopes import StorageOp
from lake.logic.auth.issuer import TokenIssuer, storage_audience
from lake.logic.auth.permissions import Caller
from lake.logic.cache.routing import CacheRoute, site_caches
from lake.logic.catalog.replicas import RSEAccess, read_access, replica_query


@dataclass
class ReadTokens:
    """Read tokens minted once per (storage, directory) for one plan."""

    caller: Caller
    issuer: TokenIssuer
    minted: dict[tuple[str, ...], str] = field(default_factory=dict)

    def get(self, key: tuple[str, ...], audience: str | list[str], paths: list[str]) -> str:
        if key not in self.minted:
            self.minted[key] = self.issuer.storage_token(self.caller.account, audience, StorageOp.READ, paths)
        return self.minted[key]


def download_plan(
    conn: Connection,
    caller: Caller,
    ref: DIDRef,
    rse_expression: str | None,
    issuer: TokenIssuer,
    site: str | None = None,
) -> Iterator[DownloadFile]:
    """Readable AVAILABLE replicas per file, ranked by protocol priority then RSE name; the site's caches first.

    Read tokens cover the scope's directory on each RSE and are minted once per (RSE, scope).
    """
    all_access = read_access(conn)
    access = {k: v for k, v in all_access.items() if v is not None and v.rse.availability_read and not v.rse.volatile}
    routes = site_caches(conn, site, [v.rse for v in all_access.values() if v is not None])
    query = replica_query(conn, ref, rse_expression, ReplicaState.AVAILABLE.value)
    query = query.order_by(query.selected_columns.scope, query.selected_columns.name)
    tokens = ReadTokens(caller, issuer)
    for (scope, name), group in groupby(conn.execute(query), key=lambda r: (r.scope, r.name)):
        rows = [r for r in group if r.rse_id in access]
        rows.sort(key=lambda r: (access[r.rse_id].protocol.wan.read or 99, access[r.rse_id].rse.name))
        ranked = [(access[r.rse_id], r) for r in rows]
        sources = _through_caches(routes, ranked, tokens) + [_source(a, r, tokens) for a, r in ranked]
        first = rows[0] if rows else None
        yield DownloadFile(
            scope=scope,
            name=name,
            bytes=first.bytes if first else None,
            adler32=first.adler32 if first else None,
            md5=first.md5 if first else None,
            sources=sources,
        )


def _directory(access: RSEAccess, row: Any) -> str:
    return row.path.rsplit("/", 1)[0] if row.path else access.scope_url_path(row.scope)


def _source(access: RSEAccess, row: Any, tokens: ReadTokens) -> SourceReplica:
    """A replica's PFN with a read token for its scope's directory on that RSE (minted once per directory)."""
    pfn = access.pfn(row.scope, row.name, row.path)
    directory = _directory(access, row)
    token = tokens.get((access.rse.id, directory), storage_audience(pfn), [directory])
    return SourceReplica(rse=access.rse.name, pfn=pfn, token=token)


def _through_caches(
    routes: Sequence[CacheRoute], ranked: Sequence[tuple[RSEAccess, Any]], tokens: ReadTokens
) -> list[SourceReplica]:
    """Per cache of the site, the best origin replica it fronts, read through the cache."""
    result = []
    for route in routes:
        served = next(((a, row) for a, row in ranked if route.serves(a.rse)), None)
        if served is None:
            continue
        origin, row = served
        pfn, directory = origin.pfn(row.scope, row.name, row.path), _directory(origin, row)
        audience = [route.audience, storage_audience(pfn)]
        token = tokens.get(
            ("cache", route.rse.id, origin.rse.id, directory), audience, sorted({directory, route.prefix + directory})
        )
        result.append(SourceReplica(rse=route.rse.name, pfn=route.url(pfn), token=token, cached_from=origin.rse.name))
    return result
