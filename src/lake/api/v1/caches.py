"""Caches: the caches of a site (volatile RSEs) and their cached replicas, reported by the cache or an operator."""

from __future__ import annotations

from fastapi import APIRouter

from lake.api.deps import CallerDep, ServicesDep
from lake.core.models import CachedReplicasIn, CachedReplicasOut, RSEOut
from lake.logic.cache import replicas as cached
from lake.logic.cache.routing import site_caches

router = APIRouter()


@router.get("/v1/caches")
def list_caches(site: str, _caller: CallerDep, svc: ServicesDep) -> list[RSEOut]:
    with svc.db.transaction() as conn:
        return [route.rse for route in site_caches(conn, site)]


@router.post("/v1/caches/{rse}/replicas")
def add_cached(rse: str, body: CachedReplicasIn, caller: CallerDep, svc: ServicesDep) -> CachedReplicasOut:
    with svc.db.transaction() as conn:
        return CachedReplicasOut(changed=cached.add_cached_replicas(conn, caller, rse, body.files))


@router.post("/v1/caches/{rse}/replicas/evicted")
def remove_cached(rse: str, body: CachedReplicasIn, caller: CallerDep, svc: ServicesDep) -> CachedReplicasOut:
    with svc.db.transaction() as conn:
        return CachedReplicasOut(changed=cached.remove_cached_replicas(conn, caller, rse, body.files))
