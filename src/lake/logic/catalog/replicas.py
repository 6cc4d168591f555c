"""Replicas: bulk registration (files + replicas + attach) and the query behind listings with PFNs
(lake.logic.access.listings streams them, through a site's caches)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, select

from lake.core.checksums import normalize_adler32
from lake.core.clock import utcnow
from lake.core.errors import ChecksumMismatch, DIDNotFound, DuplicateDID, InvalidInput, UnsupportedOperation
from lake.core.lfn2pfn import build_pfn, lfn2path, normalize_prefix, scope_directory
from lake.core.models import (
    DIDIn,
    DIDRef,
    DIDType,
    FileIn,
    ProtocolOut,
    RegisterFilesIn,
    RegisterFilesOut,
    ReplicaState,
    RSEOut,
)
from lake.core.names import validate_did_name, validate_scope
from lake.db import replicas as replica_rows
from lake.db import schema as t
from lake.db.bulk import insert_rows, present_keys, rows_by_key
from lake.logic.auth.permissions import Caller, require_scope_writer
from lake.logic.catalog import contents, dids, meta, rses

CHUNK = 500


@dataclass(frozen=True)
class RSEAccess:
    """An RSE with the protocol chosen for one operation: enough to build PFNs quickly in bulk."""

    rse: RSEOut
    protocol: ProtocolOut

    def scope_url_path(self, scope: str) -> str:
        """The URL path of the scope's directory on this RSE: what a read token for the scope covers."""
        return normalize_prefix(self.protocol.prefix) + scope_directory(scope)

    def pfn(self, scope: str, name: str, path: str | None = None) -> str:
        relative = path or lfn2path(scope, name, self.rse.lfn2pfn_algorithm)
        p = self.protocol
        return build_pfn(p.scheme, p.hostname, p.port, p.prefix, relative)


def rse_access(conn: Connection, rse_name: str, operation: str) -> RSEAccess:
    rse = rses.get_rse(conn, rse_name)
    return RSEAccess(rse, rses.best_protocol(rse, operation))


def normalize_files(files: Sequence[FileIn]) -> list[FileIn]:
    """Validate names and canonicalise checksums; reject duplicates inside one request."""
    seen: set[tuple[str, str]] = set()
    result = []
    for f in files:
        validate_scope(f.scope)
        validate_did_name(f.name)
        if (f.scope, f.name) in seen:
            raise InvalidInput(f"'{f.scope}:{f.name}' appears twice in the request")
        seen.add((f.scope, f.name))
        try:
            adler32 = normalize_adler32(f.adler32)
        except ValueError as exc:
            raise InvalidInput(f"'{f.scope}:{f.name}': adler32 '{f.adler32}' is not hexadecimal") from exc
        result.append(f.model_copy(update={"adler32": adler32, "md5": f.md5.lower() if f.md5 else None}))
    return result


def _existing_files(conn: Connection, files: Sequence[FileIn]) -> dict[tuple[str, str], Any]:
    d = t.dids.c
    columns = (d.scope, d.name, d.did_type, d.bytes, d.adler32)
    return rows_by_key(conn, columns, d.scope, d.name, [(f.scope, f.name) for f in files])


def ensure_files(conn: Connection, caller: Caller, files: Sequence[FileIn]) -> list[FileIn]:
    """Create the file DIDs that do not exist yet; existing ones must agree on size and adler32."""
    for scope in sorted({f.scope for f in files}):
        require_scope_writer(conn, caller, scope)
    existing = _existing_files(conn, files)
    new = []
    for f in files:
        row = existing.get((f.scope, f.name))
        if row is None:
            new.append(f)
        elif row.did_type != DIDType.FILE.value:
            raise InvalidInput(f"'{f.scope}:{f.name}' is a {row.did_type.lower()}, not a file")
        elif row.bytes != f.bytes or row.adler32 != f.adler32:
            raise ChecksumMismatch(
                f"'{f.scope}:{f.name}' exists with {row.bytes} bytes / adler32 {row.adler32}, "
                f"not {f.bytes} / {f.adler32}"
            )
    _insert_files(conn, caller, new)
    return new


def _insert_files(conn: Connection, caller: Caller, files: Sequence[FileIn]) -> None:
    """Insert new file DIDs (checked absent from `dids` by the caller; never used before: `deleted_dids`)."""
    d = t.deleted_dids.c
    reused = present_keys(conn, d.scope, d.name, [(f.scope, f.name) for f in files])
    if reused:
        scope, name = sorted(reused)[0]
        raise DuplicateDID(f"DID '{scope}:{name}' existed before and was deleted: names are never reused")
    now = utcnow()
    rows = [
        {
            "scope": f.scope,
            "name": f.name,
            "did_type": "FILE",
            "account": caller.account,
            "is_open": None,
            "monotonic": False,
            "bytes": f.bytes,
            "length": 1,
            "adler32": f.adler32,
            "md5": f.md5,
            "availability": "AVAILABLE",
            "created_at": now,
            "updated_at": now,
        }
        for f in files
    ]
    if rows:
        insert_rows(conn, t.dids, rows)
    meta_rows = [row for f in files if f.meta for row in meta.meta_rows(f.scope, f.name, f.meta)]
    if meta_rows:
        insert_rows(conn, t.did_meta, meta_rows)


def add_replica_rows(
    conn: Connection, rse_id: str, files: Sequence[FileIn], state: ReplicaState, new: Sequence[FileIn] = ()
) -> int:
    """Insert replicas that do not exist yet on this RSE (files in `new` were just created: no lookup)."""
    fresh = {(f.scope, f.name) for f in new}
    r = t.replicas.c
    present = present_keys(
        conn, r.scope, r.name, [(f.scope, f.name) for f in files if (f.scope, f.name) not in fresh], r.rse_id == rse_id
    )
    now = utcnow()
    rows = [replica_rows.new_replica(rse_id, f, state, now) for f in files if (f.scope, f.name) not in present]
    replica_rows.add(conn, rows)
    return len(rows)


def attach_new_children(conn: Connection, caller: Caller, dataset: DIDRef, files: Sequence[FileIn]) -> int:
    """Attach existing files to a dataset (created if missing), skipping files already in it."""
    try:
        dids.get_row(conn, dataset.scope, dataset.name)
    except DIDNotFound:
        dids.add_collection(conn, caller, DIDIn(scope=dataset.scope, name=dataset.name, type=DIDType.DATASET))
    c = t.contents.c
    keys = [(f.scope, f.name) for f in files]
    present = present_keys(conn, c.child_scope, c.child_name, keys, c.scope == dataset.scope, c.name == dataset.name)
    missing = [f for f in files if (f.scope, f.name) not in present]
    return contents.attach_files(conn, caller, dataset, missing, unattached=True) if missing else 0


def register_files(conn: Connection, caller: Caller, request: RegisterFilesIn) -> RegisterFilesOut:
    """Bulk registration in one transaction: file DIDs, their replicas on one RSE, attachment to a dataset."""
    if request.state not in (ReplicaState.AVAILABLE, ReplicaState.COPYING, ReplicaState.UNAVAILABLE):
        raise InvalidInput(f"replicas cannot be registered in state {request.state}")
    rse_id = rses.rse_id(conn, request.rse)
    files = normalize_files(request.files)
    new = ensure_files(conn, caller, files)
    added = add_replica_rows(conn, rse_id, files, request.state, new)
    attached = attach_new_children(conn, caller, request.dataset, files) if request.dataset is not None else 0
    return RegisterFilesOut(files=len(new), replicas=added, attached=attached)


def read_access(conn: Connection) -> dict[str, RSEAccess | None]:
    """Per RSE id: its preferred read protocol, or None if it cannot be read."""
    access: dict[str, RSEAccess | None] = {}
    for rse in rses.list_rses(conn):
        try:
            access[rse.id] = RSEAccess(rse, rses.best_protocol(rse, "read"))
        except UnsupportedOperation:
            access[rse.id] = None
    return access


def replica_query(conn: Connection, ref: DIDRef, rse_expression: str | None, state: str | None) -> Any:
    keys = contents.file_keys_query(conn, ref).subquery()
    r = t.replicas.c
    query = select(r.rse_id, r.scope, r.name, r.bytes, r.adler32, r.md5, r.state, r.path).join(
        keys, and_(r.scope == keys.c.scope, r.name == keys.c.name)
    )
    if rse_expression:
        names = rses.resolve_expression(conn, rse_expression)
        query = query.where(r.rse_id.in_([rses.rse_id(conn, n) for n in names]))
    if state:
        try:
            query = query.where(r.state == ReplicaState(state.upper()).value)
        except ValueError as exc:
            raise InvalidInput(f"unknown replica state '{state}'") from exc
    return query
