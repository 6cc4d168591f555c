"""OAuth clients (services such as an FTS or a Rucio instance): registered by an admin, secrets stored hashed.

A client acts for one account and may request only the scopes and audiences it was registered with
(a storage scope is covered by a registered one on the same or a parent path, `storage.modify` covering
`storage.create`).
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, insert, select

from lake.core.clock import utcnow
from lake.core.errors import InvalidInput, Unauthenticated
from lake.db import schema as t
from lake.logic.auth.accounts import get_account, is_admin
from lake.logic.auth.passwords import hash_password, verify_password
from lake.logic.auth.permissions import Caller, require_admin


@dataclass(frozen=True)
class Client:
    """An authenticated OAuth client and what it may ask for."""

    client_id: str
    account: str
    scopes: tuple[str, ...]
    audiences: tuple[str, ...]

    def caller(self, conn: Connection) -> Caller:
        """The account the client acts for."""
        return Caller(account=self.account, admin=is_admin(conn, self.account))


@dataclass(frozen=True)
class NewClient:
    """A freshly registered client; the secret is shown only here, once."""

    client_id: str
    client_secret: str
    account: str
    scopes: tuple[str, ...]
    audiences: tuple[str, ...]


def register_client(
    conn: Connection, caller: Caller, account: str, scopes: Sequence[str], audiences: Sequence[str]
) -> NewClient:
    """Admin only: a new client for `account` with its allowed scopes and audiences (at least one audience)."""
    require_admin(caller)
    get_account(conn, account)
    if not audiences or not all(a and a.split() == [a] for a in audiences):
        raise InvalidInput("a client needs at least one audience, each a single word")
    if not all(s and s.split() == [s] for s in scopes):
        raise InvalidInput("client scopes must be single words")
    client_id = f"lake-{secrets.token_hex(8)}"
    secret = secrets.token_urlsafe(32)
    conn.execute(
        insert(t.oauth_clients).values(
            client_id=client_id,
            secret_hash=hash_password(secret),
            account=account,
            scopes=" ".join(scopes),
            audiences=" ".join(audiences),
            status="ACTIVE",
            created_at=utcnow(),
        )
    )
    return NewClient(client_id, secret, account, tuple(scopes), tuple(audiences))


def list_clients(conn: Connection, caller: Caller) -> list[Client]:
    """Admin only: every registered client (never a secret)."""
    require_admin(caller)
    rows = conn.execute(select(t.oauth_clients).order_by(t.oauth_clients.c.client_id))
    return [Client(r.client_id, r.account, tuple(r.scopes.split()), tuple(r.audiences.split())) for r in rows]


def authenticate_client(conn: Connection, client_id: str, secret: str) -> Client:
    """Check a client id and secret; the client and its account must be active."""
    row = conn.execute(select(t.oauth_clients).where(t.oauth_clients.c.client_id == client_id)).first()
    if row is None or not verify_password(secret, row.secret_hash):
        raise Unauthenticated("unknown client or wrong client secret")
    status = conn.execute(select(t.accounts.c.status).where(t.accounts.c.name == row.account)).scalar()
    if row.status != "ACTIVE" or status != "ACTIVE":
        raise Unauthenticated(f"client '{client_id}' or its account is not active")
    return Client(row.client_id, row.account, tuple(row.scopes.split()), tuple(row.audiences.split()))
