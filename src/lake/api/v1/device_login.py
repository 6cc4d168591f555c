"""Where a user approves a device login (RFC 8628): a small HTML page with a password form (the web login),
and API routes for a caller already holding a token."""

from __future__ import annotations

import html
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from lake.api.deps import CallerDep, ServicesDep, client_address, public
from lake.api.errors import error_headers
from lake.api.openapi import form_body, html_responses
from lake.core.errors import InvalidInput, LakeError
from lake.logic.auth import accounts, device
from lake.logic.services import Services

router = APIRouter()
MAX_FORM_BYTES = 8192
# The page must not be framed (a framed approval is clickjacking) nor load or post anything elsewhere.
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
    "frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
}
PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Lake device login</title>
<style>body{{font-family:sans-serif;max-width:28em;margin:3em auto}}label{{display:block;margin:.6em 0}}
input{{width:100%;padding:.3em}}button{{margin:.6em .6em 0 0;padding:.4em 1.2em}}.m{{font-weight:bold}}</style>
</head><body><h1>Lake device login</h1><p class="m">{message}</p>
<form method="post" action="{action}">
<label>Code shown by your device <input name="user_code" value="{user_code}" autocomplete="off" required></label>
<label>Username <input name="username" autocomplete="username" required></label>
<label>Password <input name="password" type="password" autocomplete="current-password" required></label>
<button name="decision" value="approve">Approve</button><button name="decision" value="deny">Deny</button>
</form></body></html>
"""
DONE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Lake device login</title></head>
<body><h1>Lake device login</h1><p>{message}</p></body></html>
"""


class UserCodeIn(BaseModel):
    """The code a device shows its user."""

    user_code: str


def _page(message: str, user_code: str = "", status: int = 200) -> HTMLResponse:
    """The approval form, with a message and the user code filled in (all escaped)."""
    body = PAGE.format(
        message=html.escape(message), user_code=html.escape(user_code, quote=True), action=device.VERIFICATION_PATH
    )
    return HTMLResponse(body, status_code=status, headers=PAGE_HEADERS)


@router.get(device.VERIFICATION_PATH, dependencies=[Depends(public)], response_class=HTMLResponse)
def verification_page(user_code: str = "") -> HTMLResponse:
    """The verification URI: log in with a password to approve the code your device shows."""
    return _page("Enter the code your device shows, then log in to approve it.", user_code[:32])


def _web_decision(svc: Services, form: dict[str, str], address: str) -> str:
    """Authenticate the form's username and password (throttled), then approve or deny its user code."""
    decision = form.get("decision", "approve")
    if decision not in ("approve", "deny"):
        raise InvalidInput("decision must be approve or deny")
    username = form.get("username", "")
    with svc.throttle.attempt(username, address), svc.db.transaction() as conn:
        caller = accounts.authenticate_userpass(conn, username, form.get("password", ""), None)
        device.decide(conn, caller, form.get("user_code", ""), approve=decision == "approve")
    if decision == "deny":
        return "The request was denied. You can close this page."
    return f"Approved: the device is now logged in as {caller.account}. You can close this page."


@router.post(
    device.VERIFICATION_PATH,
    dependencies=[Depends(public)],
    response_class=HTMLResponse,
    responses=html_responses(),
    openapi_extra=form_body("user_code username password", decision={"enum": ["approve", "deny"]}),
)
async def verification_submit(request: Request, svc: ServicesDep) -> HTMLResponse:
    """The web login: a username and password approve (or deny) the user code."""
    body = await request.body()
    form = dict(parse_qsl(body[:MAX_FORM_BYTES].decode("utf-8", "replace")))
    try:
        message = await run_in_threadpool(_web_decision, svc, form, client_address(request))
    except LakeError as err:
        page = _page(err.message, form.get("user_code", "")[:32], err.status)
        page.headers.update(error_headers(err))  # Retry-After of a throttled login
        return page
    return HTMLResponse(DONE.format(message=html.escape(message)), headers=PAGE_HEADERS)


@router.post(device.VERIFICATION_PATH + "/approve", status_code=204)
def approve(code: UserCodeIn, caller: CallerDep, svc: ServicesDep) -> None:
    """Approve a device login as the caller (a caller logged in elsewhere, e.g. another `lake` session)."""
    with svc.db.transaction() as conn:
        device.decide(conn, caller, code.user_code, approve=True)


@router.post(device.VERIFICATION_PATH + "/deny", status_code=204)
def deny(code: UserCodeIn, caller: CallerDep, svc: ServicesDep) -> None:
    """Deny a device login: its next poll gets `access_denied`."""
    with svc.db.transaction() as conn:
        device.decide(conn, caller, code.user_code, approve=False)
