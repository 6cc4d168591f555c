"""The standard OAuth2 endpoints (form-encoded): token, revocation, introspection; and client registration."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, unquote_plus

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from lake.api.deps import CallerDep, ServicesDep, public
from lake.logic.auth import clients, oauth
from lake.logic.services import Services

router = APIRouter()
MAX_FORM_BYTES = 65536
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class ClientIn(BaseModel):
    """A client to register: the account it acts for, and the scopes and audiences it may request."""

    account: str
    scopes: list[str]
    audiences: list[str]


class ClientOut(BaseModel):
    """A registered client; `client_secret` is shown only in this response."""

    client_id: str
    client_secret: str
    account: str
    scopes: list[str]
    audiences: list[str]


async def _form(request: Request) -> dict[str, str]:
    """The form-encoded body; a repeated parameter is an error (RFC 6749 section 3.2)."""
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        raise oauth.OAuthError("invalid_request", "the body must be application/x-www-form-urlencoded")
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise oauth.OAuthError("invalid_request", "request body too large")
    form: dict[str, str] = {}
    for name, value in parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True):
        if name in form:
            raise oauth.OAuthError("invalid_request", f"parameter '{name}' given more than once")
        form[name] = value
    return form


def _basic(request: Request) -> tuple[str, str] | None:
    """Client id and secret from `Authorization: Basic` (form-urlencoded parts, RFC 6749 section 2.3.1)."""
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        client_id, sep, secret = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise oauth.OAuthError("invalid_client", "malformed Basic credentials", 401) from None
    if not sep:
        raise oauth.OAuthError("invalid_client", "malformed Basic credentials", 401)
    return unquote_plus(client_id), unquote_plus(secret)


async def _respond(svc: Services, request: Request, handle: Callable[..., Any]) -> JSONResponse:
    """Parse the request, run `handle(conn, form, basic)` in a transaction off the loop, map OAuth errors."""
    try:
        form, basic = await _form(request), _basic(request)
        result = await run_in_threadpool(_in_transaction, svc, handle, form, basic)
    except oauth.OAuthError as err:
        headers = NO_STORE | ({"WWW-Authenticate": "Basic"} if err.status == 401 else {})
        return JSONResponse(err.body(), status_code=err.status, headers=headers)
    return JSONResponse(result if result is not None else {}, headers=NO_STORE)


def _in_transaction(svc: Services, handle: Callable[..., Any], form: dict[str, str], basic: Any) -> Any:
    """Run one handler in one database transaction (rolled back on an OAuthError)."""
    with svc.db.transaction() as conn:
        return handle(conn, form, basic)


@router.post("/v1/oauth/token", dependencies=[Depends(public)])
async def token(request: Request, svc: ServicesDep) -> JSONResponse:
    """RFC 6749 token endpoint: password, client_credentials, refresh_token and token-exchange grants."""
    return await _respond(svc, request, lambda conn, form, basic: oauth.token_request(conn, svc.issuer, form, basic))


@router.post("/v1/oauth/revoke", dependencies=[Depends(public)])
async def revoke(request: Request, svc: ServicesDep) -> JSONResponse:
    """RFC 7009 revocation: 200 for a well-formed request (401 only for wrong client credentials)."""
    return await _respond(svc, request, oauth.revoke)


@router.post("/v1/oauth/introspect", dependencies=[Depends(public)])
async def introspect(request: Request, svc: ServicesDep) -> JSONResponse:
    """RFC 7662 introspection: `{"active": false}` for anything invalid, revoked or expired."""
    return await _respond(svc, request, lambda conn, form, _basic: oauth.introspect(conn, svc.issuer, form))


@router.post("/v1/oauth/clients", status_code=201)
def add_client(client: ClientIn, caller: CallerDep, svc: ServicesDep) -> ClientOut:
    """Admin only: register an OAuth client; the secret is returned once."""
    with svc.db.transaction() as conn:
        new = clients.register_client(conn, caller, client.account, client.scopes, client.audiences)
    return ClientOut(client_id=new.client_id, client_secret=new.client_secret, account=new.account,
                     scopes=list(new.scopes), audiences=list(new.audiences))  # fmt: skip
