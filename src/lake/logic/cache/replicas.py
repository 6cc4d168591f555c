"""Cached copies: replicas registered on a cache's volatile RSE, known to the catalog but never rule replicas.

A cache (or an operator) reports what it holds, as Rucio's volatile replicas: adding takes size and checksums
from the file DIDs, removing deletes the rows outright (no tombstone, no reaper: the cache already evicted).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection

from lake.core.errors import DIDNotFound, InvalidInput
from lake.core.models import DIDRef, DIDType, FileIn, ReplicaState, RSEOut
from lake.db import replicas as replica_rows
from lake.db import schema as t
from lake.db.bulk import rows_by_key
from lake.logic.auth.permissions import Caller, require_admin
from lake.logic.catalog import rses
from lake.logic.catalog.replicas import add_replica_rows


def cache_rse(conn: Connection, name: str) -> RSEOut:
    """The RSE `name`, which must be volatile (a cache)."""
    rse = rses.get_rse(conn, name)
    if not rse.volatile:
        raise InvalidInput(f"RSE '{name}' is not volatile: only caches hold cached replicas")
    return rse


def add_cached_replicas(conn: Connection, caller: Caller, rse_name: str, files: Sequence[DIDRef]) -> int:
    """Record that a cache holds these files (AVAILABLE, no lock); returns how many were new."""
    require_admin(caller)
    rse = cache_rse(conn, rse_name)
    d = t.dids.c
    keys = sorted({(f.scope, f.name) for f in files})
    found = rows_by_key(conn, (d.name, d.did_type, d.bytes, d.adler32, d.md5), d.scope, d.name, keys)
    for scope, name in keys:
        row = found.get((scope, name))
        if row is None or row.did_type != DIDType.FILE.value:
            raise DIDNotFound(f"no file '{scope}:{name}'")
    rows = [
        FileIn(
            scope=scope,
            name=name,
            bytes=found[(scope, name)].bytes,
            adler32=found[(scope, name)].adler32,
            md5=found[(scope, name)].md5,
        )
        for scope, name in keys
    ]
    return add_replica_rows(conn, rse.id, rows, ReplicaState.AVAILABLE)


def remove_cached_replicas(conn: Connection, caller: Caller, rse_name: str, files: Sequence[DIDRef]) -> int:
    """Forget that a cache holds these files (it evicted them); returns how many rows went."""
    require_admin(caller)
    rse = cache_rse(conn, rse_name)
    keys = sorted({(rse.id, f.scope, f.name) for f in files})
    return replica_rows.remove(conn, keys)
