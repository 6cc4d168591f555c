"""DID metadata in Rucio's dialect: get (DID_COLUMN / JSON / ALL plugins) and set (one key or bulk)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import Connection

from lake.api.deps import ServicesDep
from lake.api.rucio import bodies
from lake.api.rucio.auth import RucioCallerDep
from lake.api.rucio.bodies import parse
from lake.api.rucio.errors import RucioError
from lake.api.rucio.formats import created, json_body, json_response
from lake.core.models import DIDRef
from lake.logic.auth.permissions import Caller
from lake.logic.catalog import dids, meta

router = APIRouter()

PLUGINS = ("DID_COLUMN", "JSON", "ALL")


def did_columns(row: Any) -> dict[str, Any]:
    """The DID-column metadata upstream returns by default (the upload client compares `adler32`)."""
    return {
        "scope": row.scope,
        "name": row.name,
        "account": row.account,
        "did_type": row.did_type,
        "is_open": row.is_open,
        "monotonic": bool(row.monotonic),
        "bytes": row.bytes,
        "length": row.length,
        "md5": row.md5,
        "adler32": row.adler32,
        "availability": row.availability,
        "expired_at": row.expired_at,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }


@router.get("/dids/{scope}/{name:path}/meta")
def get_meta(scope: str, name: str, _caller: RucioCallerDep, svc: ServicesDep, plugin: str = "DID_COLUMN") -> Response:
    """DID_COLUMN: the DID's own columns; JSON: free metadata; ALL: both (columns win on a name clash)."""
    wanted = plugin.upper()
    if wanted not in PLUGINS:
        raise RucioError("UnsupportedOperation", f"unknown metadata plugin '{plugin}'", 409)
    with svc.db.transaction() as conn:
        row = dids.get_row(conn, scope, name)
        free = meta.get_meta(conn, scope, name) if wanted != "DID_COLUMN" else {}
    columns = did_columns(row) if wanted != "JSON" else {}
    return json_response(free | columns)


def _set(conn: Connection, caller: Caller, scope: str, name: str, values: dict[str, Any]) -> None:
    dids.set_did_meta(conn, caller, DIDRef(scope=scope, name=name), values)


@router.post("/dids/{scope}/{name:path}/meta/{key}")
async def set_key(
    scope: str, name: str, key: str, request: Request, caller: RucioCallerDep, svc: ServicesDep
) -> Response:
    body = parse(bodies.MetaValue, await json_body(request))
    with svc.db.transaction() as conn:
        _set(conn, caller, scope, name, {key: body.value})
    return created()


@router.post("/dids/{scope}/{name:path}/meta")
async def set_bulk(scope: str, name: str, request: Request, caller: RucioCallerDep, svc: ServicesDep) -> Response:
    body = parse(bodies.MetaValues, await json_body(request))
    with svc.db.transaction() as conn:
        _set(conn, caller, scope, name, body.meta)
    return created()
