"""Uploads in two steps so that nothing half-uploaded ever looks available.

1. `prepare_upload`: file DIDs are registered, replicas created as COPYING, and the client gets PFNs plus a
   storage token for exactly those paths.
2. `complete_upload`: the server checks size and adler32 on storage (in parallel, between two short
   transactions); matching replicas become AVAILABLE and are protected by an upload rule (one copy on that
   RSE, as `rucio upload` does) and attached to the dataset; anything else is removed from the catalog (and
   from storage) and reported.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

from sqlalchemy import Connection

from lake.core.clock import utcnow
from lake.core.errors import AlreadyExists, Conflict, LakeError, ReplicaNotFound, Unavailable
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
from lake.db import replicas as replica_rows
from lake.db import schema as t
from lake.db.bulk import Key, rows_by_key
from lake.db.engine import Database
from lake.logic.access.upload_check import Expected, verify_on_storage
from lake.logic.auth.issuer import TokenIssuer, storage_audience, storage_path
from lake.logic.auth.permissions import Caller, require_scope_writer
from lake.logic.catalog import replicas
from lake.logic.catalog.replicas import RSEAccess, rse_access
from lake.logic.rules.pins import pin_uploads


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
    found = replica_rows.states(conn, _on(rse_id, keys))
    return {(scope, name): state for (_, scope, name), state in found.items()}


def _on(rse_id: str, keys: Sequence[Key]) -> list[replica_rows.ReplicaKey]:
    return [(rse_id, scope, name) for scope, name in keys]


def _refuse_available(conn: Connection, access: RSEAccess, keys: list[tuple[str, str]]) -> None:
    for (scope, name), state in _replica_states(conn, access.rse.id, keys).items():
        if state != ReplicaState.COPYING.value:
            raise AlreadyExists(f"'{scope}:{name}' already has a {state} replica on {access.rse.name}")


def _reset_copying(conn: Connection, rse_id: str, files: Sequence[replicas.FileIn]) -> None:
    """A retried upload restarts its COPYING replica (timestamps refreshed)."""
    replica_rows.touch_copying(conn, _on(rse_id, [(f.scope, f.name) for f in files]), utcnow())


@dataclass(frozen=True)
class Completion:
    """What one completion has to do, read in its first short transaction."""

    done: UploadDone
    access: RSEAccess
    states: dict[Key, str]  # replica state on the RSE of each requested file that has a replica there
    expected: list[Expected]  # the pending ones (COPYING, or registered UNAVAILABLE), to check on storage


AfterApply = Callable[[Connection, list[UploadResult]], None]


def complete_upload(
    db: Database, caller: Caller, done: UploadDone, issuer: TokenIssuer, then: AfterApply | None = None
) -> list[UploadResult]:
    """Read, check storage with no transaction open, apply; `then` runs inside the applying transaction.

    Two short transactions instead of one per request: checking hundreds of files on storage takes seconds,
    and a transaction open that long would hold SQLite's single writer lock (or PostgreSQL row locks). The
    second transaction changes only replicas still in the state the first one read (COPYING, normally), so a
    concurrent change is never overwritten.
    """
    with db.transaction() as conn:
        plan = plan_completion(conn, caller, done)
    mint = partial(_one_file_token, issuer, caller)
    failures = verify_on_storage(plan.expected, mint, plan.access.rse.name)
    with db.transaction() as conn:
        results = apply_completion(conn, caller, plan, failures)
        if then is not None:
            then(conn, results)
    return results


def plan_completion(conn: Connection, caller: Caller, done: UploadDone) -> Completion:
    """Authorise, then read the replica states and the catalog's size and adler32 of the pending files."""
    access = rse_access(conn, done.rse, "read")
    keys = [(f.scope, f.name) for f in done.files]
    for scope in sorted({s for s, _ in keys}):
        require_scope_writer(conn, caller, scope)
    states = _replica_states(conn, access.rse.id, keys)
    pending = [k for k in dict.fromkeys(keys) if k in states and states[k] != ReplicaState.AVAILABLE.value]
    d = t.dids.c
    rows = rows_by_key(conn, (d.scope, d.name, d.bytes, d.adler32), d.scope, d.name, pending)
    expected = [Expected(s, n, access.pfn(s, n), rows[s, n].bytes, rows[s, n].adler32) for s, n in pending]
    return Completion(done, access, states, expected)


def _one_file_token(issuer: TokenIssuer, caller: Caller, pfn: str) -> str:
    """Read and delete (a bad upload) exactly this file."""
    return _storage_token(issuer, caller, [pfn], StorageOp.MODIFY)


def apply_completion(
    conn: Connection, caller: Caller, plan: Completion, failures: dict[Key, LakeError]
) -> list[UploadResult]:
    """Bulk: failed replicas removed, good ones AVAILABLE (each if still in the state read), pinned, attached."""
    rse_id = plan.access.rse.id
    verified = [e.key for e in plan.expected if e.key not in failures]
    for state, keys in _by_state(plan.states, list(failures)).items():
        _remove_if(conn, rse_id, state, keys)
    for state, keys in _by_state(plan.states, verified).items():
        _mark_available_if(conn, rse_id, state, keys)
    after = _replica_states(conn, rse_id, verified)
    results = [_result(plan, after, failures, ref) for ref in plan.done.files]
    available = [DIDRef(scope=r.scope, name=r.name) for r in results if r.state == ReplicaState.AVAILABLE]
    pin_uploads(conn, caller.account, rse_id, plan.access.rse.name, available)
    if plan.done.dataset is not None and available:
        d = t.dids.c
        columns = (d.scope, d.name, d.bytes, d.adler32, d.md5)
        rows = rows_by_key(conn, columns, d.scope, d.name, [(f.scope, f.name) for f in available])
        replicas.attach_new_children(conn, caller, plan.done.dataset, list(rows.values()))
    return results


def _result(plan: Completion, after: dict[Key, str], failures: dict[Key, LakeError], ref: DIDRef) -> UploadResult:
    """One file's outcome: verified and AVAILABLE, or UNAVAILABLE with the reason."""
    key, where = (ref.scope, ref.name), plan.access.rse.name
    before = plan.states.get(key)
    verified = key not in failures and after.get(key) == ReplicaState.AVAILABLE.value
    if before == ReplicaState.AVAILABLE.value or verified:
        return UploadResult(scope=ref.scope, name=ref.name, state=ReplicaState.AVAILABLE)
    if key in failures:
        error: LakeError = failures[key]
    elif before is None:
        error = ReplicaNotFound(f"no upload of '{ref.scope}:{ref.name}' is pending on {where}")
    else:
        error = Conflict(f"the replica of '{ref.scope}:{ref.name}' on {where} changed while it was verified")
    return UploadResult(scope=ref.scope, name=ref.name, state=ReplicaState.UNAVAILABLE, error=error.to_dict())


def _by_state(states: dict[Key, str], keys: list[Key]) -> dict[str, list[Key]]:
    grouped: dict[str, list[Key]] = {}
    for key in keys:
        grouped.setdefault(states[key], []).append(key)
    return grouped


def _remove_if(conn: Connection, rse_id: str, state: str, keys: list[Key]) -> None:
    """Failed uploads leave the catalog, unless their replica changed meanwhile (no longer in `state`)."""
    replica_rows.remove(conn, _on(rse_id, keys), if_state=state)


def _mark_available_if(conn: Connection, rse_id: str, state: str, keys: list[Key]) -> None:
    """Compare-and-set `state` -> AVAILABLE, in bulk."""
    replica_rows.mark_uploaded(conn, _on(rse_id, keys), state, utcnow())
