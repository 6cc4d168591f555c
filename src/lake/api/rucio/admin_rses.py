"""RSE administration in Rucio's dialect: add and update RSEs, attributes, protocols, distances.

What `rucio rse add|update`, `rucio rse attribute set|unset`, `rucio rse protocol add|remove` and
`rucio rse distance set|show` call (administrators only; 401 `AccessDenied` otherwise, as upstream).
Geographic RSE settings (city, country_name, ...) are kept as RSE attributes. Protocol priorities start at
1 in Lake (0 is refused with 400 `InvalidObject`: clients before and after Rucio 39 read it differently);
a protocol's `domains` may use upstream's legacy `third_party_copy` key for both TPC directions.
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
from lake.api.rucio.formats import created, flag, json_dict, json_response
from lake.core.errors import AlreadyExists
from lake.core.models import DistanceIn, ProtocolDomains, ProtocolIn, RSEIn, RSEType, RSEUpdate
from lake.logic.auth.permissions import Caller
from lake.logic.catalog import rses
from lake.logic.services import Services

router = APIRouter()

# RSE settings upstream keeps as columns and Lake as attributes (upstream name -> attribute key).
GEO_ATTRIBUTES = {
    "city": "city",
    "country_name": "country",
    "region_code": "region_code",
    "continent": "continent",
    "time_zone": "time_zone",
    "ISP": "ISP",
    "ASN": "ASN",
    "longitude": "longitude",
    "latitude": "latitude",
}
AVAILABILITY = ("availability_read", "availability_write", "availability_delete")
DEFAULT_PORTS = {"http": 80, "dav": 80, "https": 443, "davs": 443, "root": 1094, "file": 0, "s3": 443}


def availability(settings: dict[str, Any]) -> RSEUpdate:
    """Availability flags from the booleans or from the integer bit field (read 4, write 2, delete 1)."""
    values = {key: flag(settings[key]) for key in AVAILABILITY if settings.get(key) is not None}
    if settings.get("availability") is not None:
        bits = int(settings["availability"])
        values = {
            "availability_read": bool(bits & 4),
            "availability_write": bool(bits & 2),
            "availability_delete": bool(bits & 1),
        } | values
    return RSEUpdate(**values)


def _check_settings(settings: dict[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(settings) - allowed - set(GEO_ATTRIBUTES) - set(AVAILABILITY) - {"availability"})
    if unknown:
        raise RucioError("UnsupportedOperation", f"Lake cannot set the RSE setting(s) {', '.join(unknown)}", 409)


def _apply(conn: Connection, caller: Caller, rse: str, settings: dict[str, Any]) -> None:
    """Availability and geographic settings of an existing RSE."""
    rses.update_rse(conn, caller, rse, availability(settings))
    for key, attribute in GEO_ATTRIBUTES.items():
        if settings.get(key) is not None:
            rses.set_attribute(conn, caller, rse, attribute, settings[key])


@router.post("/rses/{rse}")
async def add_rse(rse: str, request: Request, caller: RucioCallerDep, svc: ServicesDep) -> Response:
    """`{deterministic, volatile, rse_type, city, ..., availability_*}`; 409 `Duplicate` if it exists."""
    settings = await json_dict(request)
    _check_settings(settings, {"deterministic", "volatile", "rse_type", "staging_area"})
    if flag(settings.get("staging_area")):
        raise RucioError("UnsupportedOperation", "Lake has no staging-area RSEs", 409)
    try:
        rse_type = RSEType(str(settings.get("rse_type") or "DISK").upper())
        deterministic = flag(settings.get("deterministic"), True)
        spec = RSEIn(name=rse, rse_type=rse_type, deterministic=deterministic, volatile=flag(settings.get("volatile")))
    except (ValueError, ValidationError) as exc:
        raise RucioError("InvalidObject", f"invalid RSE: {exc}", 400) from exc
    with svc.db.transaction() as conn:
        rses.add_rse(conn, caller, spec)
        _apply(conn, caller, rse, settings)
    return created()


@router.put("/rses/{rse}")
async def update_rse(rse: str, request: Request, caller: RucioCallerDep, svc: ServicesDep) -> Response:
    """Availability and geographic settings; upstream answers 201 here, and so does Lake."""
    settings = await json_dict(request)
    _check_settings(settings, set())
    with svc.db.transaction() as conn:
        _apply(conn, caller, rse, settings)
    return created()


@router.post("/rses/{rse}/attr/{key}")
async def add_attribute(rse: str, key: str, request: Request, caller: RucioCallerDep, svc: ServicesDep) -> Response:
    """`{"value": v}`; an existing attribute is replaced."""
    body = await json_dict(request)
    if "value" not in body:
        raise RucioError("KeyError", "'value' not defined", 400)
    with svc.db.transaction() as conn:
        rses.set_attribute(conn, caller, rse, key, body["value"])
    return created()


@router.delete("/rses/{rse}/attr/{key}")
def delete_attribute(rse: str, key: str, caller: RucioCallerDep, svc: ServicesDep) -> Response:
    with svc.db.transaction() as conn:
        rses.delete_attribute(conn, caller, rse, key)
    return Response(status_code=200)


def domains(value: Any) -> ProtocolDomains:
    """One domain's priorities; upstream's legacy `third_party_copy` stands for both TPC directions."""
    priorities = dict(value or {})
    if "third_party_copy" in priorities:
        legacy = priorities.pop("third_party_copy")
        priorities.setdefault("third_party_copy_read", legacy)
        priorities.setdefault("third_party_copy_write", legacy)
    return ProtocolDomains(**priorities)


def protocol_spec(scheme: str, body: dict[str, Any]) -> ProtocolIn:
    """Upstream's protocol dict as a Lake protocol (the port defaults to the scheme's usual one)."""
    port = body.get("port") or DEFAULT_PORTS.get(scheme)
    if port is None or not body.get("hostname"):
        raise RucioError("InvalidObject", "a protocol needs a hostname and a port", 400)
    spec: dict[str, Any] = {
        "scheme": scheme,
        "hostname": body["hostname"],
        "port": int(port),
        "prefix": body.get("prefix") or "/",
        "extended_attributes": body.get("extended_attributes"),
    }
    if body.get("impl"):
        spec["impl"] = body["impl"]
    if body.get("domains"):
        spec |= {"lan": domains(body["domains"].get("lan")), "wan": domains(body["domains"].get("wan"))}
    return ProtocolIn(**spec)


@router.post("/rses/{rse}/protocols/{scheme}")
async def add_protocol(rse: str, scheme: str, request: Request, caller: RucioCallerDep, svc: ServicesDep) -> Response:
    """`{hostname, port, prefix, impl, domains: {lan, wan}, extended_attributes}`; 409 `Duplicate`."""
    body = await json_dict(request)
    try:
        spec = protocol_spec(scheme, body)
    except (TypeError, ValueError, ValidationError) as exc:
        raise RucioError("InvalidObject", f"invalid protocol: {exc}", 400) from exc
    with svc.db.transaction() as conn:
        rses.add_protocol(conn, caller, rse, spec)
    return created()


@router.delete("/rses/{rse}/protocols/{scheme}")
def delete_protocol(rse: str, scheme: str, caller: RucioCallerDep, svc: ServicesDep) -> Response:
    """Every protocol of that scheme on the RSE (404 `RSEProtocolNotSupported` if none)."""
    with svc.db.transaction() as conn:
        if not any(p.scheme == scheme for p in rses.get_rse(conn, rse).protocols):
            raise RucioError("RSEProtocolNotSupported", f"RSE '{rse}' has no protocol '{scheme}'", 404)
        rses.delete_protocol(conn, caller, rse, scheme)
    return Response(status_code=200)


@router.get("/rses/{source}/distances/{destination}")
def get_distance(source: str, destination: str, _caller: RucioCallerDep, svc: ServicesDep) -> Response:
    """A JSON list with the distance (empty when the link has none); `ranking` is its legacy name."""
    with svc.db.transaction() as conn:
        src, dst = rses.rse_id(conn, source), rses.rse_id(conn, destination)
        found = rses.list_distances(conn, source, destination)
    return json_response(
        [
            {
                "src_rse_id": src,
                "src_rse": d.source,
                "dest_rse_id": dst,
                "dest_rse": d.destination,
                "distance": d.distance,
                "ranking": d.distance,
                "created_at": None,
                "updated_at": None,
            }
            for d in found
        ]
    )


async def _set_distance(
    request: Request, caller: Caller, svc: Services, source: str, destination: str, new: bool
) -> None:
    """Set `{"distance": n, "bidirectional": bool}` (or legacy `ranking`); a new link must not exist yet."""
    body = await json_dict(request)
    value: Any = body.get("distance", body.get("ranking"))
    links = [(source, destination)]
    if flag(body.get("bidirectional")):
        links.append((destination, source))
    try:
        specs = [DistanceIn(source=s, destination=d, distance=int(value)) for s, d in links]
    except (TypeError, ValueError, ValidationError) as exc:
        raise RucioError("InvalidObject", f"invalid distance: {exc}", 400) from exc
    with svc.db.transaction() as conn:
        for spec in specs:
            if new and rses.list_distances(conn, spec.source, spec.destination):
                raise AlreadyExists(f"distance from '{spec.source}' to '{spec.destination}' already exists")
            rses.set_distance(conn, caller, spec)


@router.post("/rses/{source}/distances/{destination}")
async def add_distance(
    source: str, destination: str, request: Request, caller: RucioCallerDep, svc: ServicesDep
) -> Response:
    await _set_distance(request, caller, svc, source, destination, new=True)
    return created()


@router.put("/rses/{source}/distances/{destination}")
async def update_distance(
    source: str, destination: str, request: Request, caller: RucioCallerDep, svc: ServicesDep
) -> Response:
    await _set_distance(request, caller, svc, source, destination, new=False)
    return Response(status_code=200)
