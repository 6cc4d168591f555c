"""Uploads in two steps so that nothing half-uploaded ever looks available.

1. `prepare_upload`: file DIDs are registered, replicas created as COPYING, and the client gets PFNs plus a
   storage token for exactly those paths.
2. `complete_upload`: the server checks size and adler32 on storage; matching replicas become AVAILABLE and
   are protected by an upload rule (one copy on that RSE, as `rucio upload` does) and attached to the
   dataset; anything else is removed from the catalog (and from storage) and reported.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from sqlalchemy import Connection, delete, update

from lake.core.clock import utcnow
from lake.core.errors import AlreadyExists, ChecksumMismatch, LakeError, ReplicaNotFound, Unavailable
from lake.core.models import (
    DIDRef,
    ReplicaState,
    UploadDone,
    UploadRequest,
    UploadResult,
    UploadTarget,
    UploadTicket,
)
from lake.core.scopes import StorageOp
from lake.db import schema as t
from lake.db.bulk import key_conditions, rows_by_key
from lake.logic.auth.issuer import TokenIssuer, storage_audience, storage_path
from lake.logic.auth.policy import Caller, require_scope_writer
from lake.logic.catalog import dids, replicas
from lake.logic.catalog.replicas import RSEAccess, rse_access
from lake.logic.rules.pins import pin_uploads
from lake.storage.registry import get_backend

log = logging.getLogger(__name__)


def prepare_upload(conn: Connection, caller: Caller, request: UploadRequest, issuer: TokenIssuer) -> UploadTicket:
    access = rse_access(conn, request.rse, "write")
    if not access.rse.availability_write:
        raise Unavailable(f"RSE '{request.rse}' is not available for writing")
    if request.dataset is not None:
        require_scope_writer(conn, caller, request.dataset.scope)
    files = replicas.normalize_files(request.files)
    replicas.ensure_files(conn, caller, files)
    _refuse_available(conn, access, [(f.scope, f.name) for f in files])
    _reset_copying(conn, access.rse.id, files)
    replicas.add_replica_rows(conn, access.rse.id, files, ReplicaState.COPYING)
    targets = [UploadTarget(scope=f.scope, name=f.name, pfn=access.pfn(f.scope, f.name)) for f in files]
    token = _storage_token(issuer, caller, [x.pfn for x in targets], StorageOp.CREATE) if targets else ""
    return UploadTicket(rse=request.rse, targets=targets, token=token, expires_in=issuer.storage_lifetime)


def _storage_token(issuer: TokenIssuer, caller: Caller, pfns: Sequence[str], op: StorageOp) -> str:
    return issuer.storage_token(caller.account, storage_audience(pfns[0]), op, [storage_path(p) for p in pfns])


def _replica_states(conn: Connection, rse_id: str, keys: list[tuple[str, str]]) -> dict[tuple[str, str], str]:
    r = t.replicas.c
    rows = rows_by_key(conn, (r.scope, r.name, r.state), r.scope, r.name, keys, r.rse_id == rse_id)
    return {key: row.state for key, row in rows.items()}


def _refuse_available(conn: Connection, access: RSEAccess, keys: list[tuple[str, str]]) -> None:
    for (scope, name), state in _replica_states(conn, access.rse.id, keys).items():
        if state != ReplicaState.COPYING.value:
            raise AlreadyExists(f"'{scope}:{name}' already has a {state} replica on {access.rse.name}")


def _reset_copying(conn: Connection, rse_id: str, files: Sequence[replicas.FileIn]) -> None:
    """A retried upload restarts its COPYING replica (timestamps refreshed)."""
    r = t.replicas.c
    for where in key_conditions(conn, (r.rse_id, r.scope, r.name), [(rse_id, f.scope, f.name) for f in files]):
        conn.execute(update(t.replicas).where(where, r.state == ReplicaState.COPYING.value).values(updated_at=utcnow()))


def complete_upload(conn: Connection, caller: Caller, done: UploadDone, issuer: TokenIssuer) -> list[UploadResult]:
    access = rse_access(conn, done.rse, "read")
    keys = [(f.scope, f.name) for f in done.files]
    for scope in sorted({s for s, _ in keys}):
        require_scope_writer(conn, caller, scope)
    states = _replica_states(conn, access.rse.id, keys)
    results = [_verify_one(conn, caller, access, ref, states.get((ref.scope, ref.name)), issuer) for ref in done.files]
    available = [DIDRef(scope=r.scope, name=r.name) for r in results if r.state == ReplicaState.AVAILABLE]
    pin_uploads(conn, caller.account, access.rse.id, access.rse.name, available)
    if done.dataset is not None and available:
        d = t.dids.c
        columns = (d.scope, d.name, d.bytes, d.adler32, d.md5)
        rows = rows_by_key(conn, columns, d.scope, d.name, [(f.scope, f.name) for f in available])
        replicas.attach_new_children(conn, caller, done.dataset, list(rows.values()))
    return results


def _verify_one(conn: Connection, caller: Caller, access: RSEAccess, ref: DIDRef, state: str | None,
                issuer: TokenIssuer) -> UploadResult:  # fmt: skip
    """Check one uploaded file on storage; AVAILABLE if size and adler32 match, else cleaned up."""
    if state is None:
        error = ReplicaNotFound(f"no upload of '{ref.scope}:{ref.name}' is pending on {access.rse.name}")
        return UploadResult(scope=ref.scope, name=ref.name, state=ReplicaState.UNAVAILABLE, error=error.to_dict())
    if state == ReplicaState.AVAILABLE.value:
        return UploadResult(scope=ref.scope, name=ref.name, state=ReplicaState.AVAILABLE)
    row = dids.get_row(conn, ref.scope, ref.name)
    pfn = access.pfn(ref.scope, ref.name)
    token = _storage_token(issuer, caller, [pfn], StorageOp.MODIFY)
    try:
        with get_backend(pfn, token=token) as backend:
            size = backend.stat(pfn).size
            adler32 = backend.checksum(pfn, "adler32")
            if size != row.bytes or adler32 != row.adler32:
                _discard(backend, pfn)
                raise ChecksumMismatch(
                    f"'{ref.scope}:{ref.name}' on {access.rse.name}: storage has {size} bytes / adler32 {adler32}, "
                    f"expected {row.bytes} / {row.adler32}"
                )
    except LakeError as error:
        _remove_replica(conn, access.rse.id, ref)
        return UploadResult(scope=ref.scope, name=ref.name, state=ReplicaState.UNAVAILABLE, error=error.to_dict())
    _mark_available(conn, access.rse.id, ref)
    return UploadResult(scope=ref.scope, name=ref.name, state=ReplicaState.AVAILABLE)


def _discard(backend, pfn: str) -> None:  # type: ignore[no-untyped-def]
    try:
        backend.delete(pfn)
    except LakeError as exc:
        log.warning("could not delete bad upload %s: %s", pfn, exc)


def _remove_replica(conn: Connection, rse_id: str, ref: DIDRef) -> None:
    conn.execute(
        delete(t.replicas).where(
            t.replicas.c.rse_id == rse_id, t.replicas.c.scope == ref.scope, t.replicas.c.name == ref.name
        )
    )


def _mark_available(conn: Connection, rse_id: str, ref: DIDRef) -> None:
    now = utcnow()
    conn.execute(
        update(t.replicas)
        .where(t.replicas.c.rse_id == rse_id, t.replicas.c.scope == ref.scope, t.replicas.c.name == ref.name)
        .values(state=ReplicaState.AVAILABLE.value, updated_at=now, accessed_at=now)
    )
