"""Admin routes for the issuer's signing keys: list their rotation states, rotate."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from lake.api.deps import CallerDep, ServicesDep
from lake.logic.auth.keystore import PUBLISH_AHEAD
from lake.logic.auth.permissions import require_admin

router = APIRouter()


class KeyOut(BaseModel):
    kid: str
    algorithm: str
    state: str = Field(description="next (published, not signing), current (signing) or retired")
    created_at: float
    retired_at: float | None = None
    published_until: float | None = Field(None, description="when a retired key leaves the JWKS")


def _keys(svc: ServicesDep) -> list[KeyOut]:
    store = svc.keystore
    return [
        KeyOut(
            kid=r.kid,
            algorithm=r.algorithm,
            state=r.state,
            created_at=r.created_at,
            retired_at=r.retired_at,
            published_until=r.published_until(store.retention),
        )
        for r in store.records()
    ]


@router.get("/v1/keys")
def list_keys(caller: CallerDep, svc: ServicesDep) -> list[KeyOut]:
    """Signing keys with their states (admin)."""
    require_admin(caller)
    return _keys(svc)


@router.post("/v1/keys/rotate")
def rotate_keys(caller: CallerDep, svc: ServicesDep, force: bool = False) -> list[KeyOut]:
    """Promote the next key to signing (admin); refused (409) until it was published PUBLISH_AHEAD seconds,
    unless `force` (validators that have not refetched the JWKS then fetch it on the unknown kid)."""
    require_admin(caller)
    svc.keystore.rotate(min_published=0 if force else PUBLISH_AHEAD)
    return _keys(svc)
