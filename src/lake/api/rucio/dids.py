"""DIDs in Rucio's dialect: search, get, add (single and bulk, with rules and content), status, parents.

Suffix routes (`/dids`, `/files`, `/parents`, `/status`, `/meta`, `/rules`, `/associated_rules`) are declared
before the bare DID route, so names containing `/` (sent as `%2F` or decoded) match them first, as upstream.
"""

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
from lake.api.rucio.formats import created, filters_text, flag, json_body, json_response, json_stream, search_filters
from lake.api.rucio.rules import rule_dict
from lake.core.models import DIDIn, DIDOut, DIDRef, DIDType, RegisterFilesIn
from lake.core.replication import RuleIn
from lake.logic.access import admin_helpers
from lake.logic.auth.permissions import Caller
from lake.logic.catalog import contents, dids, replicas, search
from lake.logic.rules import rules

router = APIRouter()


def did_dict(did: DIDOut) -> dict[str, Any]:
    """`GET /dids/{did}`: the DID columns the client reads (`type`, `open`, sizes, checksums)."""
    body: dict[str, Any] = {
        "scope": did.scope,
        "name": did.name,
        "type": did.type.value,
        "account": did.account,
        "open": did.is_open,
        "monotonic": False,
        "expired_at": did.expired_at,
        "length": did.length,
        "bytes": did.bytes,
    }
    if did.type == DIDType.FILE:
        body |= {"md5": did.md5, "adler32": did.adler32, "length": 1}
    return body


def content_dict(did: DIDOut) -> dict[str, Any]:
    return {
        "scope": did.scope,
        "name": did.name,
        "type": did.type.value,
        "bytes": did.bytes,
        "adler32": did.adler32,
        "md5": did.md5,
    }


def file_dict(did: DIDOut) -> dict[str, Any]:
    return {
        "scope": did.scope,
        "name": did.name,
        "bytes": did.bytes,
        "adler32": did.adler32,
        "md5": did.md5,
        "guid": None,
        "events": None,
    }


@router.get("/dids/{scope}/dids/search")
def search_dids(scope: str, request: Request, _caller: RucioCallerDep, svc: ServicesDep) -> Response:
    """Names (bare JSON strings), or with `long` the `{scope, name, did_type, bytes, length}` objects."""
    q = request.query_params
    groups = search_filters(q.get("filters"), q)
    limit = parse(bodies.Search, {"limit": q.get("limit") or None}).limit
    query = search.search_query(scope, filters_text(groups), q.get("type") or "collection", limit)
    if flag(q.get("long")):
        return json_stream(
            svc,
            lambda conn: (
                {"scope": r.scope, "name": r.name, "did_type": r.did_type, "bytes": r.bytes, "length": r.length}
                for r in conn.execute(query)
            ),
        )
    return json_stream(svc, lambda conn: (r.name for r in conn.execute(query)))


@router.get("/dids/{scope}/{name:path}/dids")
def list_content(scope: str, name: str, _caller: RucioCallerDep, svc: ServicesDep) -> Response:
    ref = DIDRef(scope=scope, name=name)
    return json_stream(svc, lambda conn: (content_dict(d) for d in contents.list_content(conn, ref)))


def attach_to(
    conn: Connection,
    caller: Caller,
    parent: DIDRef,
    items: list[bodies.FileItem],
    rse: str | None,
    where: str = "dids",
    ignore_duplicate: bool = False,
) -> int:
    """Attach DIDs (`where` they are in the body, for errors); with `rse`, the files are first registered as
    replicas there (bytes and adler32 needed); with `ignore_duplicate`, those already attached are skipped."""
    files = None if rse is None else parse(bodies.FILES, [item.file_fields() for item in items], where)
    if ignore_duplicate:
        present = {(d.scope, d.name) for d in contents.list_content(conn, parent)}
        new = [(item.scope, item.name) not in present for item in items]
        items = [item for item, keep in zip(items, new, strict=True) if keep]
        files = None if files is None else [file for file, keep in zip(files, new, strict=True) if keep]
    if rse is None or files is None:
        return contents.attach(conn, caller, parent, [item.ref for item in items])
    return replicas.register_files(conn, caller, RegisterFilesIn(rse=rse, files=files, dataset=parent)).attached


@router.post("/dids/{scope}/{name:path}/dids")
async def attach(scope: str, name: str, request: Request, caller: RucioCallerDep, svc: ServicesDep) -> Response:
    body = parse(bodies.Attach, await json_body(request))
    with svc.db.transaction() as conn:
        attach_to(conn, caller, DIDRef(scope=scope, name=name), body.dids, body.rse)
    return created()


@router.delete("/dids/{scope}/{name:path}/dids")
async def detach(scope: str, name: str, request: Request, caller: RucioCallerDep, svc: ServicesDep) -> Response:
    body = parse(bodies.Detach, await json_body(request))
    with svc.db.transaction() as conn:
        contents.detach(conn, caller, DIDRef(scope=scope, name=name), [did.ref for did in body.dids])
    return Response(status_code=200)


@router.post("/dids/attachments")
async def attach_many(request: Request, caller: RucioCallerDep, svc: ServicesDep) -> Response:
    """`{"attachments": [{scope, name, dids, rse?}], "ignore_duplicate": bool}` in one transaction."""
    body = parse(bodies.Attachments, await json_body(request))
    with svc.db.transaction() as conn:
        for index, item in enumerate(body.attachments):
            where = f"attachments[{index}].dids"
            attach_to(conn, caller, item.ref, item.dids, item.rse, where, body.ignore_duplicate)
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
    body = parse(bodies.Status, await json_body(request))
    with svc.db.transaction() as conn:
        dids.set_status(conn, caller, DIDRef(scope=scope, name=name), body.open)
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


RULE_OPTIONS = ("copies", "rse_expression", "grouping", "lifetime", "weight", "account", "activity")


def add_one(conn: Connection, caller: Caller, scope: str, name: str, body: bodies.Collection, where: str = "") -> None:
    """A dataset or container, with its metadata, lifetime, initial content and rules (`where`: the item of a
    bulk body, for errors)."""
    did_type = body.type.upper()
    if did_type not in (DIDType.DATASET.value, DIDType.CONTAINER.value):
        raise RucioError("UnsupportedOperation", f"cannot add a DID of type '{body.type}'", 409)
    spec = {"scope": scope, "name": name, "type": did_type, "lifetime": body.lifetime, "meta": body.meta or {}}
    dids.add_collection(conn, caller, parse(DIDIn, spec, where))
    prefix = f"{where}." if where else ""
    if body.dids:
        attach_to(conn, caller, DIDRef(scope=scope, name=name), body.dids, body.rse, f"{prefix}dids")
    for index, rule in enumerate(body.rules or []):
        options = rule.model_dump(include=set(RULE_OPTIONS), exclude_none=True)
        spec = {"scope": scope, "name": name, **options}
        rules.add_rule(conn, caller, parse(RuleIn, spec, f"{prefix}rules[{index}]"))


@router.post("/dids/{scope}/{name:path}")
async def add_did(scope: str, name: str, request: Request, caller: RucioCallerDep, svc: ServicesDep) -> Response:
    """A missing `type` is `KeyError` 400, as upstream (also what `POST /dids/{did}/files` and the other suffixes
    without a POST route meet: they are this route, for a DID named `.../files`)."""
    body = parse(bodies.Collection, await json_body(request))
    with svc.db.transaction() as conn:
        add_one(conn, caller, scope, name, body)
    return created()


@router.post("/dids")
async def add_dids(request: Request, caller: RucioCallerDep, svc: ServicesDep) -> Response:
    """Bulk creation: a JSON list of DID dicts, each with its scope and name, in one transaction."""
    items = parse(bodies.COLLECTIONS, await json_body(request, default=[]))
    with svc.db.transaction() as conn:
        for index, item in enumerate(items):
            add_one(conn, caller, item.scope, item.name, item, f"[{index}]")
    return created()
