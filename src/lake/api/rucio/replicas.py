"""Replicas in Rucio's dialect: listings (JSON stream or metalink), registration and state updates.

`POST /replicas` (state C) then `PUT /replicas` (state A) is `rucio upload`'s two-step registration; the
second step is Lake's upload completion, which checks size and adler32 on the storage before the
replica becomes AVAILABLE, then marks the locks already waiting for it (the upload rule's) OK.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import Connection
from starlette.concurrency import run_in_threadpool

from lake.api.deps import ServicesDep
from lake.api.rucio import bodies
from lake.api.rucio.auth import RucioCallerDep
from lake.api.rucio.bodies import parse
from lake.api.rucio.errors import RucioError
from lake.api.rucio.formats import created, json_body, json_stream, stream_of
from lake.api.rucio.rses import rucio_pfn
from lake.core.errors import error_from_dict
from lake.core.models import DIDRef, RegisterFilesIn, ReplicaOut, ReplicaState, UploadDone, UploadResult
from lake.core.replication import LockState
from lake.logic.access import admin_helpers, listings, uploads
from lake.logic.auth.permissions import Caller
from lake.logic.catalog import contents, replicas, rses
from lake.logic.rules import locks
from lake.logic.services import Services

router = APIRouter()

STATE_LETTERS = {
    "A": "AVAILABLE",
    "U": "UNAVAILABLE",
    "C": "COPYING",
    "B": "BEING_DELETED",
    "D": "BAD",
    "T": "TEMPORARY_UNAVAILABLE",
}
METALINK = "application/metalink4+xml"


def replica_state(value: str | None) -> ReplicaState:
    text = str(value or "A").upper()
    try:
        return ReplicaState(STATE_LETTERS.get(text, text))
    except ValueError as exc:
        raise RucioError("InvalidObject", f"unknown replica state '{value}'", 400) from exc


def file_replicas(conn: Connection, ref: DIDRef, body: bodies.ReplicaQuery) -> Iterator[dict[str, Any]]:
    """One dict per file below `ref`, its replicas (AVAILABLE unless `all_states`) best first, each PFN as
    Rucio clients can use it (`rucio_pfn`), with its ancestors when `resolve_parents`."""
    state = None if body.all_states else ReplicaState.AVAILABLE.value
    schemes = body.schemes or None
    info = {rse.name: rse for rse in rses.list_rses(conn)}
    files: dict[tuple[str, str], list[ReplicaOut]] = {}
    for replica in listings.list_replicas(conn, ref, body.rse_expression, state):
        if replica.pfn is None:
            continue
        pfn = rucio_pfn(info[replica.rse], replica.pfn)
        if schemes and pfn.split(":", 1)[0] not in schemes:
            continue
        files.setdefault((replica.scope, replica.name), []).append(replica.model_copy(update={"pfn": pfn}))
    for (scope, name), found in files.items():
        found.sort(key=lambda r: r.rse)
        pfns = {
            r.pfn: {
                "rse_id": info[r.rse].id,
                "rse": r.rse,
                "type": info[r.rse].rse_type.value,
                "volatile": info[r.rse].volatile,
                "domain": "wan",
                "priority": rank,
                "client_extract": False,
            }
            for rank, r in enumerate(found, start=1)
        }
        item: dict[str, Any] = {
            "scope": scope,
            "name": name,
            "bytes": found[0].bytes,
            "md5": found[0].md5,
            "adler32": found[0].adler32,
            "pfns": pfns,
            "rses": {r.rse: [r.pfn] for r in found},
            "states": {r.rse: r.state.value for r in found},
        }
        if body.resolve_parents:  # every ancestor: how the download client matches files to its DIDs
            ancestors = contents.ancestors_of(conn, DIDRef(scope=scope, name=name))
            item["parents"] = sorted(f"{d.scope}:{d.name}" for d in ancestors)
        yield item


def metalink(files: list[dict[str, Any]]) -> str:
    """The metalink 4 document the download client parses (sources in preference order)."""
    parts = ['<?xml version="1.0" encoding="UTF-8"?>\n<metalink xmlns="urn:ietf:params:xml:ns:metalink">\n']
    for f in files:
        parts.append(
            f" <file name={quoteattr(f['name'])}>\n  <identity>{escape(f['scope'])}:{escape(f['name'])}</identity>\n"
        )
        if f.get("parents"):
            dids = "".join(f"   <did>{escape(did)}</did>\n" for did in f["parents"])
            parts.append(f"  <parents>\n{dids}  </parents>\n")
        for kind in ("adler32", "md5"):
            if f[kind]:
                parts.append(f'  <hash type="{kind}">{escape(f[kind])}</hash>\n')
        parts.append(f"  <size>{f['bytes']}</size>\n")
        for pfn, source in f["pfns"].items():
            parts.append(
                f'  <url location={quoteattr(source["rse"])} domain="wan" priority="{source["priority"]}"'
                f' client_extract="false">{escape(pfn)}</url>\n'
            )
        parts.append(" </file>\n")
    parts.append("</metalink>\n")
    return "".join(parts)


@router.post("/replicas/list")
async def list_replicas(request: Request, _caller: RucioCallerDep, svc: ServicesDep) -> Response:
    """Per-file replica dicts for `dids` (collections expanded); metalink when the Accept header asks."""
    body = parse(bodies.ReplicaQuery, await json_body(request))

    def produce(conn: Connection) -> Iterator[dict[str, Any]]:
        for did in body.dids:
            yield from file_replicas(conn, did.ref, body)

    if METALINK in request.headers.get("accept", ""):
        with svc.db.transaction() as conn:
            return Response(metalink(list(produce(conn))), media_type=METALINK)
    return json_stream(svc, produce)


@router.post("/replicas")
async def add_replicas(request: Request, caller: RucioCallerDep, svc: ServicesDep) -> Response:
    """Register files and their replicas on one RSE (state from the files, default AVAILABLE)."""
    body = parse(bodies.Registration, await json_body(request))
    state = replica_state(body.files[0].state) if body.files else ReplicaState.AVAILABLE
    files = parse(bodies.FILES, [f.file_fields(meta=_scalar_meta(f.meta)) for f in body.files], "files")
    with svc.db.transaction() as conn:
        replicas.register_files(conn, caller, RegisterFilesIn(rse=body.rse, files=files, state=state))
    return created()


def _scalar_meta(meta: dict[str, Any] | None) -> dict[str, Any]:
    """File metadata worth keeping (e.g. `guid`); nested values are dropped."""
    return {k: v for k, v in (meta or {}).items() if isinstance(v, str | int | float | bool)}


@router.put("/replicas")
async def update_replicas(request: Request, caller: RucioCallerDep, svc: ServicesDep) -> Response:
    """State A after an upload: verified on storage, then AVAILABLE (other target states are refused)."""
    body = parse(bodies.StateUpdate, await json_body(request))
    if any(replica_state(f.state) != ReplicaState.AVAILABLE for f in body.files):
        raise RucioError("UnsupportedOperation", "Lake only accepts replica state updates to AVAILABLE", 409)
    done = UploadDone(rse=body.rse, files=[f.ref for f in body.files])
    # In a worker thread: the storage check is blocking I/O, and in `lake up` the endpoints share this loop.
    results = await run_in_threadpool(_complete_upload, svc, caller, done)
    failed = next((r.error for r in results if r.error), None)
    if failed is not None:
        raise error_from_dict(failed)
    return Response(status_code=200)


def _complete_upload(svc: Services, caller: Caller, done: UploadDone) -> list[UploadResult]:
    """Lake's upload completion (storage checked between two short transactions); in the second, the locks
    waiting for the new AVAILABLE replicas become OK."""

    def locks_ok(conn: Connection, results: list[UploadResult]) -> None:
        rse_id = rses.rse_id(conn, done.rse)
        available = [(rse_id, r.scope, r.name) for r in results if r.state == ReplicaState.AVAILABLE]
        locks.refresh_rules(conn, locks.set_lock_states(conn, available, LockState.OK))

    return uploads.complete_upload(svc.db, caller, done, svc.issuer, then=locks_ok)


@router.get("/replicas/{scope}/{name:path}/datasets")
def dataset_replicas(scope: str, name: str, _caller: RucioCallerDep, svc: ServicesDep) -> Response:
    """Per RSE, how much of the collection it holds, computed live (`deep` or not: Lake keeps no summary)."""
    with svc.db.transaction() as conn:
        found = admin_helpers.collection_replicas(conn, DIDRef(scope=scope, name=name))
    return stream_of(
        {
            "scope": scope,
            "name": name,
            "rse": r.rse,
            "rse_id": r.rse_id,
            "bytes": r.bytes,
            "length": r.length,
            "available_bytes": r.available_bytes,
            "available_length": r.available_length,
            "state": r.state,
            "created_at": r.created_at,
            "updated_at": r.updated_at,
            "accessed_at": r.accessed_at,
        }
        for r in found
    )


@router.get("/replicas/{scope}/{name:path}")
def did_replicas(scope: str, name: str, _caller: RucioCallerDep, svc: ServicesDep) -> Response:
    """AVAILABLE replicas of every file below a DID, as `POST /replicas/list` gives them."""
    ref = DIDRef(scope=scope, name=name)
    return json_stream(svc, lambda conn: file_replicas(conn, ref, bodies.ReplicaQuery()))
