"""RSEs: add, list by expression, show, availability, attributes, protocols, distances."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from lake.api.deps import CallerDep, ServicesDep, ndjson
from lake.api.openapi import ndjson_of
from lake.core.models import AttributeIn, DistanceIn, DistanceOut, ProtocolIn, RSEIn, RSEOut, RSEUpdate
from lake.logic.catalog import rses

router = APIRouter()


@router.post("/v1/rses", status_code=201)
def add_rse(rse: RSEIn, caller: CallerDep, svc: ServicesDep) -> RSEOut:
    with svc.db.transaction() as conn:
        return rses.add_rse(conn, caller, rse)


@router.get("/v1/rses", **ndjson_of(RSEOut))
def list_rses(_caller: CallerDep, svc: ServicesDep, expression: str | None = None) -> StreamingResponse:
    return ndjson(svc, lambda conn: rses.list_rses(conn, expression))


@router.get("/v1/rses/{rse}")
def get_rse(rse: str, _caller: CallerDep, svc: ServicesDep) -> RSEOut:
    with svc.db.transaction() as conn:
        return rses.get_rse(conn, rse)


@router.patch("/v1/rses/{rse}")
def update_rse(rse: str, change: RSEUpdate, caller: CallerDep, svc: ServicesDep) -> RSEOut:
    with svc.db.transaction() as conn:
        return rses.update_rse(conn, caller, rse, change)


@router.put("/v1/rses/{rse}/attributes/{key}")
def set_attribute(rse: str, key: str, body: AttributeIn, caller: CallerDep, svc: ServicesDep) -> RSEOut:
    with svc.db.transaction() as conn:
        return rses.set_attribute(conn, caller, rse, key, body.value)


@router.delete("/v1/rses/{rse}/attributes/{key}")
def delete_attribute(rse: str, key: str, caller: CallerDep, svc: ServicesDep) -> RSEOut:
    with svc.db.transaction() as conn:
        return rses.delete_attribute(conn, caller, rse, key)


@router.post("/v1/rses/{rse}/protocols", status_code=201)
def add_protocol(rse: str, protocol: ProtocolIn, caller: CallerDep, svc: ServicesDep) -> RSEOut:
    with svc.db.transaction() as conn:
        return rses.add_protocol(conn, caller, rse, protocol)


@router.delete("/v1/rses/{rse}/protocols/{scheme}")
def delete_protocol(rse: str, scheme: str, caller: CallerDep, svc: ServicesDep) -> RSEOut:
    with svc.db.transaction() as conn:
        return rses.delete_protocol(conn, caller, rse, scheme)


@router.put("/v1/distances")
def set_distance(distance: DistanceIn, caller: CallerDep, svc: ServicesDep) -> DistanceOut:
    with svc.db.transaction() as conn:
        return rses.set_distance(conn, caller, distance)


@router.get("/v1/distances", **ndjson_of(DistanceOut))
def list_distances(
    _caller: CallerDep, svc: ServicesDep, source: str | None = None, destination: str | None = None
) -> StreamingResponse:
    return ndjson(svc, lambda conn: iter(rses.list_distances(conn, source, destination)))
