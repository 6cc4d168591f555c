"""Replicas: bulk registration, listings with PFNs, uploads (prepare/complete) and download plans."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from lake.api.deps import CallerDep, ServicesDep, ndjson
from lake.api.openapi import ndjson_of
from lake.core.models import (
    DIDRef,
    DownloadFile,
    RegisterFilesIn,
    RegisterFilesOut,
    ReplicaOut,
    UploadDone,
    UploadRequest,
    UploadResult,
    UploadTicket,
)
from lake.logic.access import downloads, listings, uploads
from lake.logic.catalog import replicas

router = APIRouter()


@router.post("/v1/replicas/register")
def register(request: RegisterFilesIn, caller: CallerDep, svc: ServicesDep) -> RegisterFilesOut:
    with svc.db.transaction() as conn:
        return replicas.register_files(conn, caller, request)


@router.get("/v1/replicas/{scope}/{name:path}", **ndjson_of(ReplicaOut))
def list_replicas(
    scope: str,
    name: str,
    _caller: CallerDep,
    svc: ServicesDep,
    rse_expression: str | None = None,
    state: str | None = None,
    site: str | None = None,
) -> StreamingResponse:
    """With `site`, URLs through that site's caches come first (marked cached)."""
    ref = DIDRef(scope=scope, name=name)
    return ndjson(svc, lambda conn: listings.list_replicas(conn, ref, rse_expression, state, site))


@router.post("/v1/uploads")
def prepare_upload(request: UploadRequest, caller: CallerDep, svc: ServicesDep) -> UploadTicket:
    with svc.db.transaction() as conn:
        return uploads.prepare_upload(conn, caller, request, svc.issuer)


@router.post("/v1/uploads/complete")
def complete_upload(done: UploadDone, caller: CallerDep, svc: ServicesDep) -> list[UploadResult]:
    """Two short transactions with the storage check between them, none open during it (see `uploads`)."""
    return uploads.complete_upload(svc.db, caller, done, svc.issuer)


@router.get("/v1/downloads/{scope}/{name:path}", **ndjson_of(DownloadFile))
def download_plan(
    scope: str,
    name: str,
    caller: CallerDep,
    svc: ServicesDep,
    rse_expression: str | None = None,
    site: str | None = None,
) -> StreamingResponse:
    """With `site`, sources through that site's caches come first."""
    ref = DIDRef(scope=scope, name=name)
    return ndjson(svc, lambda conn: downloads.download_plan(conn, caller, ref, rse_expression, svc.issuer, site))
