"""Login, whoami, accounts, and the issuer's discovery documents."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, StreamingResponse

from lake import __version__
from lake.api.deps import CallerDep, ServicesDep, client_address, ndjson, public
from lake.api.openapi import ndjson_of
from lake.core.models import AccountIn, AccountOut, IdentityOut, OidcIdentityIn, PasswordLogin, TokenOut
from lake.logic.auth import accounts, external
from lake.logic.auth.oauth import GRANT_TYPES

router = APIRouter()


@router.get("/v1/ping", dependencies=[Depends(public)])
def ping() -> dict[str, str]:
    return {"version": __version__}


@router.post("/v1/auth/token", dependencies=[Depends(public)])
def token(login: PasswordLogin, request: Request, svc: ServicesDep) -> TokenOut:
    """A password login (throttled: too many failures for the name or the address are 429)."""
    with svc.throttle.attempt(login.username, client_address(request)), svc.db.transaction() as conn:
        caller = accounts.authenticate_userpass(conn, login.username, login.password, login.account)
    return TokenOut(
        access_token=svc.issuer.api_token(caller.account), expires_in=svc.issuer.lifetime, account=caller.account
    )


@router.get("/v1/auth/whoami")
def whoami(caller: CallerDep, svc: ServicesDep) -> AccountOut:
    with svc.db.transaction() as conn:
        return accounts.get_account(conn, caller.account)


@router.post("/v1/accounts", status_code=201)
def add_account(account: AccountIn, caller: CallerDep, svc: ServicesDep) -> AccountOut:
    with svc.db.transaction() as conn:
        return accounts.add_account(conn, caller, account)


@router.get("/v1/accounts", **ndjson_of(AccountOut))
def list_accounts(_caller: CallerDep, svc: ServicesDep) -> StreamingResponse:
    return ndjson(svc, accounts.list_accounts)


@router.get("/v1/accounts/{name}")
def get_account(name: str, _caller: CallerDep, svc: ServicesDep) -> AccountOut:
    with svc.db.transaction() as conn:
        return accounts.get_account(conn, name)


@router.post("/v1/accounts/{name}/identities", status_code=201)
def add_identity(name: str, body: OidcIdentityIn, caller: CallerDep, svc: ServicesDep) -> IdentityOut:
    """Map a trusted external issuer's subject to the account (admin): its tokens then act as the account."""
    with svc.db.transaction() as conn:
        identity = external.add_oidc_identity(conn, caller, name, body.issuer, body.subject)
    return IdentityOut(account=name, identity=identity, type=external.OIDC)


@router.get("/.well-known/openid-configuration", dependencies=[Depends(public)])
def openid_configuration(svc: ServicesDep) -> JSONResponse:
    issuer = svc.issuer.issuer
    document = {
        "issuer": issuer,
        "jwks_uri": f"{issuer}/.well-known/jwks.json",
        "token_endpoint": f"{issuer}/v1/oauth/token",
        "device_authorization_endpoint": f"{issuer}/v1/oauth/device_authorization",
        "revocation_endpoint": f"{issuer}/v1/oauth/revoke",
        "introspection_endpoint": f"{issuer}/v1/oauth/introspect",
        "grant_types_supported": list(GRANT_TYPES),
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "id_token_signing_alg_values_supported": ["ES256", "RS256"],
        "scopes_supported": [
            "lake.api",
            "offline_access",
            "storage.read",
            "storage.create",
            "storage.modify",
            "storage.stage",
        ],
    }
    return JSONResponse(document, headers={"Cache-Control": "max-age=3600"})


@router.get("/.well-known/jwks.json", dependencies=[Depends(public)])
def jwks(svc: ServicesDep) -> JSONResponse:
    return JSONResponse(svc.keystore.jwks(), headers={"Cache-Control": "max-age=3600"})
