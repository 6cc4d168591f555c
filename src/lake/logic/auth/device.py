"""RFC 8628 device authorization: a command line logs in without a password by showing a short user code that
the user approves in a browser (or through the API) with an account already logged in.

The device code is 256 random bits, stored only as its SHA-256; the user code is 8 letters from an
unambiguous 20-consonant alphabet (no vowels, so no words), shown as `BCDF-GHJK` and accepted in any case,
with or without the hyphen or spaces. A code lives 10 minutes and gives tokens once. The scopes follow the
token service's scope policy for the approving account, checked at approval and again when the token is issued.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NoReturn

from sqlalchemy import Connection, delete, insert, select, update

from lake.core.clock import utcnow
from lake.core.errors import InvalidInput, NotFound, PermissionDenied
from lake.core.scopes import API_SCOPE
from lake.db import schema_auth as ta
from lake.logic.auth import grants
from lake.logic.auth.clients import Client
from lake.logic.auth.issuer import TokenIssuer
from lake.logic.auth.permissions import Caller
from lake.logic.auth.refresh import issue_refresh

LIFETIME = timedelta(minutes=10)
INTERVAL = 5
SLOW_DOWN_STEP = 5
ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"
USER_CODE_LETTERS = 8
PREFIX = "ldc_"
VERIFICATION_PATH = "/v1/oauth/device"
_ANY_SCOPE = Caller(account="", admin=True)  # checks scope syntax only: an admin may get any well-formed scope


class PollError(grants.OAuthError):
    """A token-endpoint error whose bookkeeping (the poll time, a slower interval) must still be committed."""


@dataclass(frozen=True)
class _Pending:
    """A stored device code row, as the grant needs it."""

    code_hash: str
    client_id: str | None
    scopes: list[str]
    audiences: list[str]
    account: str | None
    status: str
    interval: int
    expires_at: datetime
    last_polled_at: datetime | None


def _digest(code: str) -> str:
    """What is stored for a device code: its SHA-256 (256 random bits need no salt)."""
    return hashlib.sha256(code.encode()).hexdigest()


def normalize_user_code(text: str) -> str:
    """`bcdf ghjk`, `BCDFGHJK` or `bcdf-ghjk` -> `BCDF-GHJK`; anything else is InvalidInput."""
    letters = "".join(char for char in text.upper() if char not in "- \t")
    if len(letters) != USER_CODE_LETTERS or any(char not in ALPHABET for char in letters):
        raise InvalidInput(f"a user code is {USER_CODE_LETTERS} letters such as BCDF-GHJK")
    half = USER_CODE_LETTERS // 2
    return f"{letters[:half]}-{letters[half:]}"


def _new_user_code(conn: Connection) -> str:
    """A user code no live device code uses; an expired holder of the same code is deleted."""
    for _ in range(5):
        code = normalize_user_code("".join(secrets.choice(ALPHABET) for _ in range(USER_CODE_LETTERS)))
        holder = conn.execute(select(ta.device_codes.c.expires_at).where(ta.device_codes.c.user_code == code)).first()
        if holder is None:
            return code
        if holder.expires_at <= utcnow():
            conn.execute(delete(ta.device_codes).where(ta.device_codes.c.user_code == code))
            return code
    raise grants.OAuthError("temporarily_unavailable", "no free user code, try again", 503)


def device_authorization(
    conn: Connection, issuer: TokenIssuer, form: grants.Form, client: Client | None
) -> dict[str, Any]:
    """Start a device login: store a pending code for the requested scopes and audiences, return both codes."""
    scopes = grants.words(form, "scope") or [API_SCOPE]
    audiences = grants.words(form, "audience") or [issuer.api_audience]
    if client is not None:
        grants.within(scopes, [*client.scopes, grants.OFFLINE], "client's registered scopes")
        grants.audiences_within(audiences, client.audiences, "client")
    grants.check_account_scopes(conn, _ANY_SCOPE, [scope for scope in scopes if scope != grants.OFFLINE])
    device_code, user_code, now = PREFIX + secrets.token_urlsafe(32), _new_user_code(conn), utcnow()
    conn.execute(
        insert(ta.device_codes).values(
            code_hash=_digest(device_code),
            user_code=user_code,
            client_id=client.client_id if client else None,
            scopes=" ".join(scopes),
            audiences=" ".join(audiences),
            status="PENDING",
            interval=INTERVAL,
            created_at=now,
            expires_at=now + LIFETIME,
        )
    )
    uri = issuer.issuer + VERIFICATION_PATH
    return {
        "device_code": device_code,
        "user_code": user_code,
        "verification_uri": uri,
        "verification_uri_complete": f"{uri}?user_code={user_code}",
        "expires_in": int(LIFETIME.total_seconds()),
        "interval": INTERVAL,
    }


def decide(conn: Connection, caller: Caller, user_code: str, approve: bool) -> None:
    """The logged-in caller approves (or denies) a pending user code; approval needs the scopes to be allowed."""
    code = normalize_user_code(user_code)
    row = conn.execute(select(ta.device_codes).where(ta.device_codes.c.user_code == code)).first()
    if row is None or row.status != "PENDING" or row.expires_at <= utcnow():
        raise NotFound(f"user code {code} is unknown, expired or already used")
    if approve:
        try:
            grants.check_account_scopes(conn, caller, [s for s in row.scopes.split() if s != grants.OFFLINE])
        except grants.OAuthError as err:
            raise PermissionDenied(err.description) from None
    conn.execute(
        update(ta.device_codes)
        .where(ta.device_codes.c.user_code == code, ta.device_codes.c.status == "PENDING")
        .values(status="APPROVED" if approve else "DENIED", account=caller.account)
    )


def _load(conn: Connection, device_code: str) -> _Pending:
    """The stored row for a device code, else invalid_grant."""
    row = conn.execute(select(ta.device_codes).where(ta.device_codes.c.code_hash == _digest(device_code))).first()
    if row is None:
        raise grants.OAuthError("invalid_grant", "unknown device code")
    return _Pending(
        row.code_hash,
        row.client_id,
        row.scopes.split(),
        row.audiences.split(),
        row.account,
        row.status,
        row.interval,
        row.expires_at,
        row.last_polled_at,
    )


def _poll(conn: Connection, pending: _Pending) -> NoReturn:
    """A poll before approval: record it, and answer `slow_down` (interval + 5 s) if it came too early."""
    now = utcnow()
    early = pending.last_polled_at is not None and now - pending.last_polled_at < timedelta(seconds=pending.interval)
    interval = pending.interval + SLOW_DOWN_STEP if early else pending.interval
    conn.execute(
        update(ta.device_codes)
        .where(ta.device_codes.c.code_hash == pending.code_hash)
        .values(last_polled_at=now, interval=interval)
    )
    if early:
        raise PollError("slow_down", f"poll at most every {interval} seconds")
    raise PollError("authorization_pending", "the user has not yet approved the code")


def device_code_grant(
    conn: Connection, issuer: TokenIssuer, form: grants.Form, client: Client | None
) -> dict[str, Any]:
    """The device-code grant: pending, slow down, denied, expired, or (once) the tokens for the approver."""
    pending = _load(conn, grants.required(form, "device_code"))
    if pending.client_id != (client.client_id if client else None):
        raise grants.OAuthError("invalid_grant", "device code was issued to another client")
    if pending.expires_at <= utcnow():
        raise grants.OAuthError("expired_token", "the device code has expired: start a new login")
    if pending.status == "DENIED":
        raise grants.OAuthError("access_denied", "the user denied the request")
    if pending.status == "PENDING":
        _poll(conn, pending)
    used = conn.execute(
        update(ta.device_codes)
        .where(ta.device_codes.c.code_hash == pending.code_hash, ta.device_codes.c.status == "APPROVED")
        .values(status="USED")
    )
    if not used.rowcount or pending.account is None:
        raise grants.OAuthError("invalid_grant", "the device code was already used")
    caller = grants.active_account(conn, pending.account)
    grants.check_account_scopes(conn, caller, [scope for scope in pending.scopes if scope != grants.OFFLINE])
    body = grants.access_body(issuer, caller.account, pending.scopes, pending.audiences)
    if grants.OFFLINE in pending.scopes:
        scopes = body["scope"].split()
        body["refresh_token"] = issue_refresh(conn, caller.account, pending.client_id, scopes, pending.audiences)
    return body
