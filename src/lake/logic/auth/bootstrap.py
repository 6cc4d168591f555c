"""First start of a lake: the root administrator, a user account and that user's scope."""

from __future__ import annotations

from sqlalchemy import Connection, insert, select

from lake.core.clock import utcnow
from lake.core.models import AccountIn, AccountType
from lake.db import schema as t
from lake.logic.auth.accounts import ensure_account


def bootstrap_accounts(
    conn: Connection, root_password: str, user: str | None = None, user_password: str | None = None
) -> None:
    """Idempotent: creates what is missing, never changes existing accounts or passwords."""
    ensure_account(conn, AccountIn(name="root", type=AccountType.SERVICE, password=root_password), admin=True)
    if user and user_password:
        ensure_account(conn, AccountIn(name=user, type=AccountType.USER, password=user_password))
        ensure_scope(conn, f"user.{user}", user)


def ensure_scope(conn: Connection, name: str, account: str) -> None:
    if not conn.execute(select(t.scopes.c.name).where(t.scopes.c.name == name)).first():
        conn.execute(insert(t.scopes).values(name=name, account=account, status="OPEN", created_at=utcnow()))
