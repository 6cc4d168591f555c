"""Rucio authentication: `/auth/userpass`, `/auth/validate`, `/ping`, and the token gate of every other route.

Tokens are Lake JWTs. The ones issued here also work at the storage endpoints (what they carry and why:
lake.logic.access.rucio_token).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from fastapi.security import APIKeyHeader

from lake import __version__
from lake.api.deps import ServicesDep, admin_cache, bearer_scheme, client_address, public
from lake.api.rucio.errors import RucioError
from lake.api.rucio.formats import json_response, rfc1123
from lake.core.errors import LakeError, TemporaryFailure, TooManyRequests, Unauthenticated
from lake.core.tokens import TokenClaims
from lake.logic.access.rucio_token import rucio_session_token
from lake.logic.auth import accounts
from lake.logic.auth.permissions import Caller
from lake.logic.services import Services

TOKEN_HEADER = "x-rucio-auth-token"
RUCIO_VERSION = "41.0.0"  # the upstream release whose REST dialect this adapter follows

router = APIRouter()


def _token_of(request: Request) -> str:
    token = request.headers.get(TOKEN_HEADER, "").strip()
    if not token:
        scheme, _, bearer = request.headers.get("authorization", "").partition(" ")
        token = bearer.strip() if scheme.lower() == "bearer" else ""
    if not token:
        raise RucioError("ValueError", "Token must be set.", 400)
    return token


def _claims(svc: Services, token: str) -> TokenClaims:
    try:
        return svc.validator.validate(token)
    except LakeError as exc:
        raise RucioError(
            "CannotAuthenticate", f"Cannot authenticate with given credentials: {exc.message}", 401
        ) from exc


# Only declare the token in the OpenAPI document of every route that needs one: `_token_of` reads the headers.
rucio_token_scheme = APIKeyHeader(name="X-Rucio-Auth-Token", scheme_name="rucio_token", auto_error=False)


async def rucio_caller(
    request: Request,
    svc: ServicesDep,
    _token: Annotated[Any, Depends(rucio_token_scheme)],
    _bearer: Annotated[Any, Depends(bearer_scheme)],
) -> Caller:
    """The account bound to `X-Rucio-Auth-Token` (or a bearer JWT); every non-auth route depends on it."""
    account = _account(svc, _claims(svc, _token_of(request)))
    return Caller(account=account, admin=admin_cache.is_admin(svc, account))


def _account(svc: Services, claims: TokenClaims) -> str:
    """The token's account (an external subject's mapped one); unmapped is Rucio's CannotAuthenticate, a token
    without the API scope AccessDenied (403)."""
    try:
        return svc.external.api_account(svc.db, claims)
    except Unauthenticated as exc:
        raise RucioError(
            "CannotAuthenticate", f"Cannot authenticate with given credentials: {exc.message}", 401
        ) from exc


RucioCallerDep = Annotated[Caller, Depends(rucio_caller)]


@router.get("/auth/userpass", dependencies=[Depends(public)])
def userpass(request: Request, svc: ServicesDep) -> Response:
    """Log in with `X-Rucio-Username`/`X-Rucio-Password` (and optionally `X-Rucio-Account`)."""
    username = request.headers.get("x-rucio-username")
    password = request.headers.get("x-rucio-password")
    if not username or not password:
        raise RucioError("CannotAuthenticate", "Cannot authenticate without username and password", 401)
    attempt = svc.throttle.attempt(username, client_address(request))  # 429 CannotAuthenticate when throttled
    try:
        with attempt, svc.db.transaction() as conn:
            caller = accounts.authenticate_userpass(conn, username, password, request.headers.get("x-rucio-account"))
            token = rucio_session_token(conn, svc.issuer, caller)
    except (TooManyRequests, TemporaryFailure):  # throttled, or the database is away: not the credentials
        raise
    except LakeError as exc:
        message = f"Cannot authenticate to account {request.headers.get('x-rucio-account')} with given credentials"
        raise RucioError("CannotAuthenticate", f"{message}: {exc.message}", 401) from exc
    expires = time.time() + svc.issuer.lifetime
    headers = {
        "X-Rucio-Auth-Token": token,
        "X-Rucio-Auth-Token-Expires": rfc1123(_utc(expires)) or "",
        "X-Rucio-Auth-Account": caller.account,
    }
    return Response(status_code=200, headers=headers)


def _utc(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)


@router.get("/auth/validate", dependencies=[Depends(public)])
def validate(request: Request, svc: ServicesDep) -> Response:
    """The token's account, identity and expiry, as the Python repr of a dict (upstream's format)."""
    claims = _claims(svc, _token_of(request))
    info = {
        "account": _account(svc, claims),
        "identity": f"SUB={claims.sub}, ISS={claims.iss}",
        "lifetime": rfc1123(_utc(float(claims.exp))),
        "audience": " ".join(claims.aud),
        "authz_scope": " ".join(claims.scopes),
    }
    return Response(repr(info), media_type="text/plain")


@router.get("/ping", dependencies=[Depends(public)])
def ping() -> Response:
    """The Rucio server version Lake speaks (clients gate some calls on it) and Lake's own version."""
    return json_response({"version": RUCIO_VERSION, "lake_version": __version__})
