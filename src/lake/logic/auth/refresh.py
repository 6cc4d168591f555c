"""Refresh tokens: opaque random strings, stored only as SHA-256 hashes, bound to an account and a client.

They are reusable until they expire (30 days) or are revoked (RFC 7009); a suspended account or client
cannot use them. Only this issuer ever reads them: they are never sent to a storage.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, insert, select, update

from lake.core.clock import utcnow
from lake.core.errors import Unauthenticated
from lake.db import schema as t

REFRESH_LIFETIME = timedelta(days=30)
PREFIX = "lrt_"


@dataclass(frozen=True)
class RefreshGrant:
    """What a valid refresh token stands for."""

    account: str
    client_id: str | None
    scopes: tuple[str, ...]
    audiences: tuple[str, ...]
    expires_at: datetime


def _digest(token: str) -> str:
    """What is stored: the SHA-256 of the token (it has 256 random bits, so no salt or KDF is needed)."""
    return hashlib.sha256(token.encode()).hexdigest()


def issue_refresh(
    conn: Connection, account: str, client_id: str | None, scopes: Sequence[str], audiences: Sequence[str]
) -> str:
    """Store a new refresh token (its hash only) and return the token itself."""
    token = PREFIX + secrets.token_urlsafe(32)
    now = utcnow()
    conn.execute(
        insert(t.refresh_tokens).values(
            token_hash=_digest(token),
            account=account,
            client_id=client_id,
            scopes=" ".join(scopes),
            audiences=" ".join(audiences),
            created_at=now,
            expires_at=now + REFRESH_LIFETIME,
        )
    )
    return token


def lookup_refresh(conn: Connection, token: str) -> RefreshGrant | None:
    """The grant of an active refresh token (not revoked, not expired, account active), else None."""
    if not token.startswith(PREFIX):
        return None
    row = conn.execute(select(t.refresh_tokens).where(t.refresh_tokens.c.token_hash == _digest(token))).first()
    if row is None or row.revoked_at is not None or row.expires_at <= utcnow():
        return None
    status = conn.execute(select(t.accounts.c.status).where(t.accounts.c.name == row.account)).scalar()
    if status != "ACTIVE":
        return None
    if row.client_id is not None:
        client_status = conn.execute(
            select(t.oauth_clients.c.status).where(t.oauth_clients.c.client_id == row.client_id)
        ).scalar()
        if client_status != "ACTIVE":
            return None
    return RefreshGrant(
        row.account, row.client_id, tuple(row.scopes.split()), tuple(row.audiences.split()), row.expires_at
    )


def use_refresh(conn: Connection, token: str, client_id: str | None) -> RefreshGrant:
    """The grant of a refresh token presented by `client_id`; a token bound to a client needs that client."""
    grant = lookup_refresh(conn, token)
    if grant is None:
        raise Unauthenticated("refresh token is unknown, expired or revoked")
    if grant.client_id is not None and grant.client_id != client_id:
        raise Unauthenticated("refresh token was issued to another client")
    return grant


def revoke_refresh(conn: Connection, token: str) -> bool:
    """Revoke a refresh token (RFC 7009); False if it was unknown or already revoked."""
    result = conn.execute(
        update(t.refresh_tokens)
        .where(t.refresh_tokens.c.token_hash == _digest(token), t.refresh_tokens.c.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    return bool(result.rowcount)
