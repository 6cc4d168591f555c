"""Replica listings with PFNs, streamed; with a site, URLs through that site's caches come first."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import groupby
from typing import Any

from sqlalchemy import Connection

from lake.core.models import DIDRef, ReplicaOut, ReplicaState
from lake.logic.cache.routing import CacheRoute, site_caches
from lake.logic.catalog import rses
from lake.logic.catalog.replicas import RSEAccess, read_access, replica_query


def list_replicas(
    conn: Connection, ref: DIDRef, rse_expression: str | None = None, state: str | None = None, site: str | None = None
) -> Iterator[ReplicaOut]:
    """Every replica of a file, or of every file below a collection, with its PFN; streams rows.

    Copies on caches (volatile RSEs) are marked `cached`. With `site`, each file's URLs through that site's
    caches come first (marked cached, with the state of the origin replica they read).
    """
    query = replica_query(conn, ref, rse_expression, state)
    access = read_access(conn)
    names = {rse.id: rse.name for rse in rses.list_rses(conn)}
    routes = site_caches(conn, site, [a.rse for a in access.values() if a is not None])
    if routes:
        query = query.order_by(query.selected_columns.scope, query.selected_columns.name)
    for _key, group in groupby(conn.execute(query), key=lambda r: (r.scope, r.name)):
        replicas = [_replica_out(access.get(row.rse_id), row, names.get(row.rse_id, row.rse_id)) for row in group]
        yield from _through_caches(routes, replicas, access)
        yield from replicas


def _replica_out(access: RSEAccess | None, row: Any, rse_name: str) -> ReplicaOut:
    pfn = access.pfn(row.scope, row.name, row.path) if access else None
    return ReplicaOut(
        scope=row.scope,
        name=row.name,
        rse=rse_name,
        state=ReplicaState(row.state),
        bytes=row.bytes,
        adler32=row.adler32,
        md5=row.md5,
        pfn=pfn,
        cached=bool(access and access.rse.volatile),
    )


def _through_caches(
    routes: list[CacheRoute], replicas: list[ReplicaOut], access: dict[str, RSEAccess | None]
) -> list[ReplicaOut]:
    """Per cache of the site, the first listed origin replica it fronts, as a URL through the cache."""
    by_name = {a.rse.name: a.rse for a in access.values() if a is not None}
    result = []
    for route in routes:
        origin = next((r for r in replicas if r.pfn and r.rse in by_name and route.serves(by_name[r.rse])), None)
        if origin is not None and origin.pfn:
            result.append(
                origin.model_copy(update={"rse": route.rse.name, "pfn": route.url(origin.pfn), "cached": True})
            )
    return result
