"""Scopes and DIDs: create, look up, search, attach/detach, content, parents, files, status, metadata."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from lake.api.deps import CallerDep, Limit, ServicesDep, ndjson
from lake.api.openapi import ndjson_of
from lake.core.models import AttachIn, DIDIn, DIDOut, DIDRef, MetaIn, ScopeIn, ScopeOut, StatusIn
from lake.logic.catalog import contents, dids, meta, scopes, search

router = APIRouter()


@router.post("/v1/scopes", status_code=201)
def add_scope(scope: ScopeIn, caller: CallerDep, svc: ServicesDep) -> ScopeOut:
    with svc.db.transaction() as conn:
        return scopes.add_scope(conn, caller, scope)


@router.get("/v1/scopes", **ndjson_of(ScopeOut))
def list_scopes(_caller: CallerDep, svc: ServicesDep, account: str | None = None) -> StreamingResponse:
    return ndjson(svc, lambda conn: scopes.list_scopes(conn, account))


@router.post("/v1/dids", status_code=201)
def add_did(did: DIDIn, caller: CallerDep, svc: ServicesDep) -> DIDOut:
    with svc.db.transaction() as conn:
        return dids.add_collection(conn, caller, did)


@router.get("/v1/dids/{scope}/{name:path}")
async def get_did(scope: str, name: str, _caller: CallerDep, svc: ServicesDep, meta: bool = False) -> DIDOut:
    """A primary-key lookup, run on the event loop: cheaper than a thread hop for the hottest read."""
    with svc.db.transaction() as conn:
        return dids.get_did(conn, scope, name, with_meta=meta)


@router.get("/v1/search/{scope}", **ndjson_of(DIDOut))
def search_dids(
    scope: str,
    _caller: CallerDep,
    svc: ServicesDep,
    filter: str | None = None,
    type: str | None = None,
    limit: Limit = None,
) -> StreamingResponse:
    query = search.search_query(scope, filter, type, limit)  # validates before streaming
    return ndjson(svc, lambda conn: (dids.did_out(row) for row in conn.execute(query)))


@router.get("/v1/contents/{scope}/{name:path}", **ndjson_of(DIDOut))
def list_content(
    scope: str, name: str, _caller: CallerDep, svc: ServicesDep, recursive: bool = False
) -> StreamingResponse:
    return ndjson(svc, lambda conn: contents.list_content(conn, DIDRef(scope=scope, name=name), recursive))


@router.post("/v1/contents/{scope}/{name:path}")
def attach(scope: str, name: str, body: AttachIn, caller: CallerDep, svc: ServicesDep) -> dict[str, int]:
    with svc.db.transaction() as conn:
        return {"attached": contents.attach(conn, caller, DIDRef(scope=scope, name=name), body.dids)}


@router.post("/v1/detach/{scope}/{name:path}")
def detach(scope: str, name: str, body: AttachIn, caller: CallerDep, svc: ServicesDep) -> dict[str, int]:
    with svc.db.transaction() as conn:
        return {"detached": contents.detach(conn, caller, DIDRef(scope=scope, name=name), body.dids)}


@router.get("/v1/parents/{scope}/{name:path}", **ndjson_of(DIDOut))
def list_parents(scope: str, name: str, _caller: CallerDep, svc: ServicesDep) -> StreamingResponse:
    return ndjson(svc, lambda conn: contents.list_parents(conn, DIDRef(scope=scope, name=name)))


@router.get("/v1/files/{scope}/{name:path}", **ndjson_of(DIDOut))
def list_files(scope: str, name: str, _caller: CallerDep, svc: ServicesDep) -> StreamingResponse:
    return ndjson(svc, lambda conn: contents.list_files(conn, DIDRef(scope=scope, name=name)))


@router.put("/v1/status/{scope}/{name:path}")
def set_status(scope: str, name: str, body: StatusIn, caller: CallerDep, svc: ServicesDep) -> DIDOut:
    with svc.db.transaction() as conn:
        return dids.set_status(conn, caller, DIDRef(scope=scope, name=name), body.open)


@router.get("/v1/meta/{scope}/{name:path}")
def get_meta(scope: str, name: str, _caller: CallerDep, svc: ServicesDep) -> dict[str, Any]:
    with svc.db.transaction() as conn:
        dids.get_row(conn, scope, name)
        return meta.get_meta(conn, scope, name)


@router.post("/v1/meta/{scope}/{name:path}")
def set_meta(scope: str, name: str, body: MetaIn, caller: CallerDep, svc: ServicesDep) -> dict[str, Any]:
    with svc.db.transaction() as conn:
        dids.set_did_meta(conn, caller, DIDRef(scope=scope, name=name), body.meta)
        return meta.get_meta(conn, scope, name)
