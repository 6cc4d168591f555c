"""The standard OAuth2 endpoints (form-encoded): token, device authorization, revocation, introspection; and
client registration and listing (admin)."""

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

from lake.api.deps import CallerDep, ServicesDep, client_address, public
from lake.api.openapi import form_body, oauth_responses
from lake.api.v1 import device_login
from lake.logic.auth import clients, device, oauth
from lake.logic.services import Services

router = APIRouter()
router.include_router(device_login.router)
MAX_FORM_BYTES = 65536
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
# The form fields each endpoint reads (client credentials also as `Authorization: Basic`); scopes and audiences
# are space-separated.
CLIENT = "client_id client_secret"
TOKEN_FORM = form_body(
    f"username password account scope audience refresh_token subject_token subject_token_type requested_token_type "
    f"device_code {CLIENT}",
    ("grant_type",),
    grant_type={"enum": list(oauth.GRANT_TYPES)},
)
DEVICE_FORM = form_body(f"scope audience {CLIENT}")
TOKEN_ONLY_FORM = form_body(f"token token_type_hint {CLIENT}", ("token",))


class ClientIn(BaseModel):
    """A client to register: the account it acts for, and the scopes and audiences it may request."""

    account: str
    scopes: list[str]
    audiences: list[str]


class ClientInfo(BaseModel):
    """A registered client as listed: no secret."""

    client_id: str
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
    """The form-encoded body (an empty one is an empty form); a repeated parameter is an error (RFC 6749 3.2)."""
    body = await request.body()
    if not body:
        return {}
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        raise oauth.OAuthError("invalid_request", "the body must be application/x-www-form-urlencoded")
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
    """Run one handler in one database transaction: rolled back on an OAuthError, except a device poll's."""
    with svc.db.transaction() as conn:
        try:
            return handle(conn, form, basic)
        except device.PollError as err:
            polled = err
    raise polled


@router.post("/v1/oauth/token", dependencies=[Depends(public)], responses=oauth_responses(), openapi_extra=TOKEN_FORM)
async def token(request: Request, svc: ServicesDep) -> JSONResponse:
    """RFC 6749 token endpoint: password, client_credentials, refresh_token, token-exchange and device-code grants."""

    def handle(conn: Any, form: dict[str, str], basic: Any) -> dict[str, Any]:
        trust = oauth.Trust(svc.validator, svc.external)
        if form.get("grant_type") != "password":
            return oauth.token_request(conn, svc.issuer, form, basic, trust)
        with svc.throttle.attempt(form.get("username", ""), address, failed=_wrong_password):
            return oauth.token_request(conn, svc.issuer, form, basic, trust)

    address = client_address(request)
    return await _respond(svc, request, handle)


def _wrong_password(error: BaseException) -> bool:
    """A password grant refused for its credentials (`invalid_grant`), as the login throttle counts them."""
    return isinstance(error, oauth.OAuthError) and error.error == "invalid_grant"


@router.post(
    "/v1/oauth/device_authorization",
    dependencies=[Depends(public)],
    responses=oauth_responses(),
    openapi_extra=DEVICE_FORM,
)
async def device_authorization(request: Request, svc: ServicesDep) -> JSONResponse:
    """RFC 8628 device authorization: a device code to poll with, and a user code to approve in a browser."""

    def handle(conn: Any, form: dict[str, str], basic: Any) -> dict[str, Any]:
        return device.device_authorization(conn, svc.issuer, form, oauth.authenticate(conn, form, basic))

    return await _respond(svc, request, handle)


@router.post(
    "/v1/oauth/revoke", dependencies=[Depends(public)], responses=oauth_responses(), openapi_extra=TOKEN_ONLY_FORM
)
async def revoke(request: Request, svc: ServicesDep) -> JSONResponse:
    """RFC 7009 revocation: 200 for a well-formed request (401 only for wrong client credentials)."""
    return await _respond(svc, request, _with_token(oauth.revoke))


@router.post(
    "/v1/oauth/introspect", dependencies=[Depends(public)], responses=oauth_responses(), openapi_extra=TOKEN_ONLY_FORM
)
async def introspect(request: Request, svc: ServicesDep) -> JSONResponse:
    """RFC 7662 introspection: `{"active": false}` for anything invalid, revoked or expired."""

    def handle(conn: Any, form: dict[str, str], _basic: Any) -> dict[str, Any]:
        return oauth.introspect(conn, svc.issuer, form, oauth.Trust(svc.validator, svc.external))

    return await _respond(svc, request, _with_token(handle))


def _with_token(handle: Callable[..., Any]) -> Callable[..., Any]:
    """Revocation and introspection require the `token` parameter (RFC 7009 2.1, RFC 7662 2.1): without one the
    request is malformed (`invalid_request`), where an empty or unknown token is merely not active."""

    def checked(conn: Any, form: dict[str, str], basic: Any) -> Any:
        if "token" not in form:
            raise oauth.OAuthError("invalid_request", "missing parameter 'token'")
        return handle(conn, form, basic)

    return checked


@router.post("/v1/oauth/clients", status_code=201)
def add_client(client: ClientIn, caller: CallerDep, svc: ServicesDep) -> ClientOut:
    """Admin only: register an OAuth client; the secret is returned once."""
    with svc.db.transaction() as conn:
        new = clients.register_client(conn, caller, client.account, client.scopes, client.audiences)
    return ClientOut(
        client_id=new.client_id,
        client_secret=new.client_secret,
        account=new.account,
        scopes=list(new.scopes),
        audiences=list(new.audiences),
    )


@router.get("/v1/oauth/clients")
def list_clients(caller: CallerDep, svc: ServicesDep) -> list[ClientInfo]:
    """Admin only: the registered clients (secrets are never shown again)."""
    with svc.db.transaction() as conn:
        found = clients.list_clients(conn, caller)
    return [
        ClientInfo(client_id=c.client_id, account=c.account, scopes=list(c.scopes), audiences=list(c.audiences))
        for c in found
    ]
