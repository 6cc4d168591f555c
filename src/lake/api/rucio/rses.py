"""RSEs in Rucio's dialect: list by expression, RSE info with protocols in upstream's shape, attributes,
protocols and server-side LFN -> PFN.

Protocols of Lake's built-in HTTP/WebDAV endpoints are presented with the `impl` of rucio-clients' WebDAV
plugin without rename (`webdav.NoRename`): the endpoint has no MOVE, which the plain plugin needs for its
upload-then-rename. That plugin only takes `https://` PFNs as complete URLs (it prefixes anything else with
the protocol's origin again), so a plain `http`/`dav` protocol of Lake's backend is hidden from Rucio clients
when the RSE also offers `https`/`davs` (the built-in endpoints of `lake up` offer both): the client then
never picks a protocol its plugin cannot use, for upload, download or `--scheme`, and the replica PFNs this
dialect lists use the same view (`rucio_pfn`). Lake's own clients keep the full list and their priorities.
Priorities are never 0 (Lake refuses 0 when protocols are added): `null` disables.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from lake.api.deps import ServicesDep
from lake.api.rucio.auth import RucioCallerDep
from lake.api.rucio.errors import RucioError
from lake.api.rucio.formats import json_response, json_stream, stream_of
from lake.core.clock import utcnow
from lake.core.errors import UnsupportedOperation
from lake.core.lfn2pfn import build_pfn, lfn2path
from lake.core.models import ProtocolOut, RSEOut
from lake.logic.catalog import rses
from lake.logic.rules import quotas

router = APIRouter()

WEBDAV_IMPL = "rucio.rse.protocols.webdav.NoRename"
WEBDAV_SCHEMES = ("http", "https", "dav", "davs")
TLS_SCHEMES = ("https", "davs")


def rucio_impl(protocol: ProtocolOut) -> str:
    """The rucio-clients class for a protocol: Lake's own HTTP backend maps to the WebDAV plugin."""
    if protocol.impl.startswith("lake.") and protocol.scheme in WEBDAV_SCHEMES:
        return WEBDAV_IMPL
    return protocol.impl


def rucio_protocols(rse: RSEOut) -> list[ProtocolOut]:
    """The protocols Rucio clients see: plain http ones of Lake's backend go when the RSE also has https."""
    lake_http = [p for p in rse.protocols if p.impl.startswith("lake.") and p.scheme in WEBDAV_SCHEMES]
    if not any(p.scheme in TLS_SCHEMES for p in lake_http):
        return list(rse.protocols)
    return [p for p in rse.protocols if p not in lake_http or p.scheme in TLS_SCHEMES]


def rucio_pfn(rse: RSEOut, pfn: str) -> str:
    """A replica's PFN (built with Lake's preferred read protocol) moved to the best one Rucio clients see."""
    try:
        native = rses.best_protocol(rse, "read")
        best = _protocols(rse, "read", "wan", None)[0]
    except (UnsupportedOperation, RucioError):
        return pfn
    base = build_pfn(native.scheme, native.hostname, native.port, native.prefix, "")
    if best == native or not pfn.startswith(base):
        return pfn
    return build_pfn(best.scheme, best.hostname, best.port, best.prefix, pfn[len(base) :])


def protocol_dict(protocol: ProtocolOut) -> dict[str, Any]:
    lan = protocol.lan.model_dump(include={"read", "write", "delete"})
    return {
        "scheme": protocol.scheme,
        "hostname": protocol.hostname,
        "port": protocol.port,
        "prefix": protocol.prefix,
        "impl": rucio_impl(protocol),
        "domains": {"lan": lan, "wan": protocol.wan.model_dump()},
        "extended_attributes": protocol.extended_attributes,
    }


def rse_row(rse: RSEOut) -> dict[str, Any]:
    """The RSE row `GET /rses/` lists, with the integer availability (read 4, write 2, delete 1)."""
    availability = 4 * rse.availability_read + 2 * rse.availability_write + rse.availability_delete
    return {
        "id": rse.id,
        "rse": rse.name,
        "vo": "def",
        "rse_type": rse.rse_type.value,
        "deterministic": rse.deterministic,
        "volatile": rse.volatile,
        "staging_area": False,
        "city": rse.attributes.get("city"),
        "country_name": rse.attributes.get("country"),
        "availability_read": rse.availability_read,
        "availability_write": rse.availability_write,
        "availability_delete": rse.availability_delete,
        "availability": availability,
        "qos_class": None,
    }


def rse_info(rse: RSEOut) -> dict[str, Any]:
    """RSE info as the client's RSE manager reads it (§5 of the dialect reference)."""
    return rse_row(rse) | {
        "domain": ["lan", "wan"],
        "lfn2pfn_algorithm": rse.lfn2pfn_algorithm,
        "sign_url": None,
        "verify_checksum": True,
        "credentials": None,
        "protocols": [protocol_dict(p) for p in rucio_protocols(rse)],
    }


@router.get("/rses")
def list_rses(_caller: RucioCallerDep, svc: ServicesDep, expression: str | None = None) -> Response:
    """Full rows, or only `{"rse": name}` per line when an expression is given (as upstream)."""
    if expression:
        return json_stream(svc, lambda conn: ({"rse": r.name} for r in rses.list_rses(conn, expression)))
    return json_stream(svc, lambda conn: (rse_row(r) for r in rses.list_rses(conn)))


@router.get("/rses/{rse}")
def get_rse(rse: str, _caller: RucioCallerDep, svc: ServicesDep) -> Response:
    with svc.db.transaction() as conn:
        return json_response(rse_info(rses.get_rse(conn, rse)))


@router.get("/rses/{rse}/attr")
def rse_attributes(rse: str, _caller: RucioCallerDep, svc: ServicesDep) -> Response:
    with svc.db.transaction() as conn:
        return json_response(rses.get_rse(conn, rse).attributes)


def _protocols(rse: RSEOut, operation: str | None, domain: str | None, scheme: str | None) -> list[ProtocolOut]:
    """Protocols supporting `operation` in `domain` (any when not given), best first."""
    domains = ("lan", "wan") if domain in (None, "", "ALL", "all") else (str(domain),)
    found = []
    for protocol in rucio_protocols(rse):
        if scheme and protocol.scheme != scheme:
            continue
        priorities = [getattr(getattr(protocol, d), operation) for d in domains] if operation else [1]
        ranked = [p for p in priorities if p is not None]
        if ranked:
            found.append((min(ranked), protocol.scheme, protocol))
    if not found:
        raise RucioError("RSEProtocolNotSupported", f"RSE '{rse.name}' has no matching protocol", 404)
    return [protocol for _, _, protocol in sorted(found, key=lambda item: item[:2])]


@router.get("/rses/{rse}/protocols")
def get_protocols(rse: str, request: Request, _caller: RucioCallerDep, svc: ServicesDep) -> Response:
    q = request.query_params
    with svc.db.transaction() as conn:
        found = _protocols(rses.get_rse(conn, rse), q.get("operation"), q.get("protocol_domain"), None)
    if q.get("default", "").lower() in ("true", "1"):
        found = found[:1]
    return json_response([protocol_dict(p) for p in found])


@router.get("/rses/{rse}/lfns2pfns")
def lfns2pfns(rse: str, request: Request, _caller: RucioCallerDep, svc: ServicesDep) -> Response:
    """`{"scope:name": pfn}` with the best protocol for the operation (default read), as clients compute it."""
    q = request.query_params
    with svc.db.transaction() as conn:
        info = rses.get_rse(conn, rse)
    operation = q.get("operation") or "read"
    protocol = _protocols(info, operation, q.get("domain") or "wan", q.get("scheme"))[0]
    result = {}
    for lfn in q.getlist("lfn"):
        scope, _, name = lfn.partition(":")
        path = lfn2path(scope, name, info.lfn2pfn_algorithm)
        result[lfn] = build_pfn(protocol.scheme, protocol.hostname, protocol.port, protocol.prefix, path)
    return json_response(result)


@router.get("/rses/{rse}/usage")
def rse_usage(rse: str, _caller: RucioCallerDep, svc: ServicesDep) -> Response:
    """One `rucio` source: the bytes and files that rules hold on the RSE (Lake has no storage accounting)."""
    with svc.db.transaction() as conn:
        info = rses.get_rse(conn, rse)
        held = [usage for (_, rse_id), usage in quotas.usage_by_rse(conn).items() if rse_id == info.id]
    row = {
        "rse_id": info.id,
        "rse": info.name,
        "source": "rucio",
        "used": sum(b for _, b in held),
        "files": sum(n for n, _ in held),
        "free": None,
        "total": None,
        "updated_at": utcnow(),
    }
    return stream_of([row])


@router.get("/rses/{rse}/limits")
def rse_limits(rse: str, _caller: RucioCallerDep, svc: ServicesDep) -> Response:
    """RSE limits (MinFreeSpace, MaxBeingDeletedFiles...): Lake sets none."""
    with svc.db.transaction() as conn:
        rses.get_rse(conn, rse)
    return json_response({})
