"""DIDs in Rucio's dialect: search, get, add (single and bulk, with rules and content), status, parents.

Suffix routes (`/dids`, `/files`, `/parents`, `/status`, `/meta`, `/rules`, `/associated_rules`) are declared
before the bare DID route, so names containing `/` (sent as `%2F` or decoded) match them first, as upstream.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy import Connection

from lake.api.deps import ServicesDep
from lake.api.rucio.auth import RucioCallerDep
from lake.api.rucio.errors import RucioError
from lake.api.rucio.formats import (
    created,
    filters_text,
    flag,
    json_body,
    json_dict,
    json_response,
    json_stream,
    search_filters,
)
from lake.api.rucio.rules import rule_dict
from lake.core.models import DIDIn, DIDOut, DIDRef, DIDType, FileIn, RegisterFilesIn
from lake.core.policy import RuleIn
from lake.logic.access import admin_helpers
from lake.logic.auth.policy import Caller
from lake.logic.catalog import contents, dids, replicas, search
from lake.logic.rules import rules

router = APIRouter()


def did_dict(did: DIDOut) -> dict[str, Any]:
    """`GET /dids/{did}`: the DID columns the client reads (`type`, `open`, sizes, checksums)."""
    body: dict[str, Any] = {
        "scope": did.scope, "name": did.name, "type": did.type.value, "account": did.account,
        "open": did.is_open, "monotonic": False, "expired_at": did.expired_at, "length": did.length,
        "bytes": did.bytes,
    }  # fmt: skip
    if did.type == DIDType.FILE:
        body |= {"md5": did.md5, "adler32": did.adler32, "length": 1}
    return body


def content_dict(did: DIDOut) -> dict[str, Any]:
    return {"scope": did.scope, "name": did.name, "type": did.type.value, "bytes": did.bytes,
            "adler32": did.adler32, "md5": did.md5}  # fmt: skip


def file_dict(did: DIDOut) -> dict[str, Any]:
    return {"scope": did.scope, "name": did.name, "bytes": did.bytes, "adler32": did.adler32, "md5": did.md5,
            "guid": None, "events": None}  # fmt: skip


def refs(items: Any) -> list[DIDRef]:
    """DID references from a Rucio body (a list of `{scope, name, ...}`)."""
    try:
        return [DIDRef(scope=item["scope"], name=item["name"]) for item in items]
    except (KeyError, TypeError, ValidationError) as exc:
        raise RucioError("InvalidObject", f"invalid DID list: {exc}", 400) from exc


@router.get("/dids/{scope}/dids/search")
def search_dids(scope: str, request: Request, _caller: RucioCallerDep, svc: ServicesDep) -> Response:
    """Names (bare JSON strings), or with `long` the `{scope, name, did_type, bytes, length}` objects."""
    q = request.query_params
    groups = search_filters(q.get("filters"), q)
    limit = int(q["limit"]) if q.get("limit") else None
    query = search.search_query(scope, filters_text(groups), q.get("type") or "collection", limit)
    if flag(q.get("long")):
        return json_stream(svc, lambda conn: (
            {"scope": r.scope, "name": r.name, "did_type": r.did_type, "bytes": r.bytes, "length": r.length}
            for r in conn.execute(query)))  # fmt: skip
    return json_stream(svc, lambda conn: (r.name for r in conn.execute(query)))


@router.get("/dids/{scope}/{name:path}/dids")
def list_content(scope: str, name: str, _caller: RucioCallerDep, svc: ServicesDep) -> Response:
    ref = DIDRef(scope=scope, name=name)
    return json_stream(svc, lambda conn: (content_dict(d) for d in contents.list_content(conn, ref)))


def attach_to(conn: Connection, caller: Caller, parent: DIDRef, items: list[dict[str, Any]], rse: str | None) -> int:
    """Attach DIDs; with `rse`, the files are first registered as replicas there (bytes and adler32 needed)."""
    if rse is None:
        return contents.attach(conn, caller, parent, refs(items))
    try:
        files = [FileIn(**{k: v for k, v in f.items() if k in FileIn.model_fields}) for f in items]
    except ValidationError as exc:
        raise RucioError("InvalidObject", f"files to register need scope, name, bytes and adler32: {exc}", 400) from exc
    return replicas.register_files(conn, caller, RegisterFilesIn(rse=rse, files=files, dataset=parent)).attached


@router.post("/dids/{scope}/{name:path}/dids")
async def attach(scope: str, name: str, request: Request, caller: RucioCallerDep, svc: ServicesDep) -> Response:
    body = await json_dict(request)
    with svc.db.transaction() as conn:
        attach_to(conn, caller, DIDRef(scope=scope, name=name), body.get("dids") or [], body.get("rse"))
    return created()


@router.delete("/dids/{scope}/{name:path}/dids")
async def detach(scope: str, name: str, request: Request, caller: RucioCallerDep, svc: ServicesDep) -> Response:
    body = await json_dict(request)
    with svc.db.transaction() as conn:
        contents.detach(conn, caller, DIDRef(scope=scope, name=name), refs(body.get("dids") or []))
    return Response(status_code=200)


@router.post("/dids/attachments")
async def attach_many(request: Request, caller: RucioCallerDep, svc: ServicesDep) -> Response:
    """`{"attachments": [{scope, name, dids, rse?}], "ignore_duplicate": bool}` in one transaction."""
    body = await json_dict(request)
    ignore_duplicate = flag(body.get("ignore_duplicate"))
    with svc.db.transaction() as conn:
        for item in body.get("attachments") or []:
            parent = DIDRef(scope=item["scope"], name=item["name"])
            children = item.get("dids") or []
            if ignore_duplicate:
                present = {(d.scope, d.name) for d in contents.list_content(conn, parent)}
                children = [c for c in children if (c["scope"], c["name"]) not in present]
            attach_to(conn, caller, parent, children, item.get("rse"))
    return created()


@router.get("/dids/{scope}/{name:path}/files")
def list_files(scope: str, name: str, _caller: RucioCallerDep, svc: ServicesDep) -> Response:
    ref = DIDRef(scope=scope, name=name)
    return json_stream(svc, lambda conn: (file_dict(d) for d in contents.list_files(conn, ref)))


@router.get("/dids/{scope}/{name:path}/parents")
def list_parents(scope: str, name: str, _caller: RucioCallerDep, svc: ServicesDep) -> Response:
    ref = DIDRef(scope=scope, name=name)
    return json_stream(svc, lambda conn: (content_dict(d) for d in contents.list_parents(conn, ref)))


@router.put("/dids/{scope}/{name:path}/status")
async def set_status(scope: str, name: str, request: Request, caller: RucioCallerDep, svc: ServicesDep) -> Response:
    body = await json_dict(request)
    if "open" not in body:
        raise RucioError("KeyError", "'open' not defined", 400)
    with svc.db.transaction() as conn:
        dids.set_status(conn, caller, DIDRef(scope=scope, name=name), flag(body["open"]))
    return Response(status_code=200)


@router.get("/dids/{scope}/{name:path}/rules")
def did_rules(scope: str, name: str, _caller: RucioCallerDep, svc: ServicesDep) -> Response:
    def produce(conn: Connection) -> Any:
        dids.get_row(conn, scope, name)
        return (rule_dict(r) for r in rules.list_rules(conn, scope=scope, name=name))

    return json_stream(svc, produce)


@router.get("/dids/{scope}/{name:path}/associated_rules")
def associated_rules(scope: str, name: str, _caller: RucioCallerDep, svc: ServicesDep) -> Response:
    """The rules holding locks on a file, whichever DID they were made for."""

    def produce(conn: Connection) -> Any:
        dids.get_row(conn, scope, name)
        return (rule_dict(r) for r in admin_helpers.associated_rules(conn, DIDRef(scope=scope, name=name)))

    return json_stream(svc, produce)


@router.get("/dids/{scope}/{name:path}")
def get_did(scope: str, name: str, _caller: RucioCallerDep, svc: ServicesDep) -> Response:
    with svc.db.transaction() as conn:
        return json_response(did_dict(dids.get_did(conn, scope, name)))


def add_one(conn: Connection, caller: Caller, scope: str, name: str, body: dict[str, Any]) -> None:
    """A dataset or container, with its metadata, lifetime, initial content and rules."""
    did_type = str(body.get("type", "")).upper()
    if did_type not in (DIDType.DATASET.value, DIDType.CONTAINER.value):
        raise RucioError("UnsupportedOperation", f"cannot add a DID of type '{body.get('type')}'", 409)
    spec = DIDIn(scope=scope, name=name, type=DIDType(did_type), lifetime=body.get("lifetime"),
                 meta=body.get("meta") or {})  # fmt: skip
    dids.add_collection(conn, caller, spec)
    if body.get("dids"):
        attach_to(conn, caller, DIDRef(scope=scope, name=name), body["dids"], body.get("rse"))
    for rule in body.get("rules") or []:
        keys = ("copies", "rse_expression", "grouping", "lifetime", "weight", "account", "activity")
        options = {key: rule[key] for key in keys if rule.get(key) is not None}
        rules.add_rule(conn, caller, RuleIn(scope=scope, name=name, **options))


@router.post("/dids/{scope}/{name:path}")
async def add_did(scope: str, name: str, request: Request, caller: RucioCallerDep, svc: ServicesDep) -> Response:
    body = await json_dict(request)
    with svc.db.transaction() as conn:
        add_one(conn, caller, scope, name, body)
    return created()


@router.post("/dids")
async def add_dids(request: Request, caller: RucioCallerDep, svc: ServicesDep) -> Response:
    """Bulk creation: a JSON list of DID dicts, each with its scope and name, in one transaction."""
    body = await json_body(request, default=[])
    if not isinstance(body, list):
        raise RucioError("TypeError", "body must be a json list", 400)
    with svc.db.transaction() as conn:
        for item in body:
            add_one(conn, caller, item["scope"], item["name"], item)
    return created()
