"""Accounts and userpass identities; bootstrap of the root account."""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import Connection, insert, select

from lake.core.clock import utcnow
from lake.core.errors import AccountNotFound, AlreadyExists, Unauthenticated
from lake.core.models import AccountIn, AccountOut, AccountType
from lake.core.names import validate_account
from lake.db import schema as t
from lake.logic.auth.passwords import hash_password, verify_password
from lake.logic.auth.permissions import Caller, require_admin

ADMIN_ATTR = "admin"


def add_account(conn: Connection, caller: Caller, account: AccountIn, admin: bool = False) -> AccountOut:
    require_admin(caller)
    return _insert_account(conn, account, admin)


def _insert_account(conn: Connection, account: AccountIn, admin: bool) -> AccountOut:
    validate_account(account.name)
    if conn.execute(select(t.accounts.c.name).where(t.accounts.c.name == account.name)).first():
        raise AlreadyExists(f"account '{account.name}' already exists")
    conn.execute(
        insert(t.accounts).values(
            name=account.name, type=account.type.value, status="ACTIVE", email=account.email, created_at=utcnow()
        )
    )
    if admin:
        conn.execute(insert(t.account_attrs).values(account=account.name, key=ADMIN_ATTR, value="True"))
    if account.password:
        add_userpass(conn, account.name, account.password, account.name)
    return get_account(conn, account.name)


def add_userpass(conn: Connection, username: str, password: str, account: str) -> None:
    conn.execute(
        insert(t.identities).values(
            identity=username,
            type="USERPASS",
            account=account,
            password_hash=hash_password(password),
            is_default=True,
            created_at=utcnow(),
        )
    )


def get_account(conn: Connection, name: str) -> AccountOut:
    row = conn.execute(select(t.accounts).where(t.accounts.c.name == name)).first()
    if row is None:
        raise AccountNotFound(f"account '{name}' does not exist")
    return AccountOut(
        name=row.name, type=AccountType(row.type), status=row.status, email=row.email, admin=is_admin(conn, name)
    )


def list_accounts(conn: Connection) -> Iterator[AccountOut]:
    admins = set(conn.execute(select(t.account_attrs.c.account).where(t.account_attrs.c.key == ADMIN_ATTR)).scalars())
    for row in conn.execute(select(t.accounts).order_by(t.accounts.c.name)):
        yield AccountOut(
            name=row.name, type=AccountType(row.type), status=row.status, email=row.email, admin=row.name in admins
        )


def is_admin(conn: Connection, account: str) -> bool:
    query = select(t.account_attrs.c.value).where(
        t.account_attrs.c.account == account, t.account_attrs.c.key == ADMIN_ATTR
    )
    return str(conn.execute(query).scalar()).lower() == "true"


def authenticate_userpass(conn: Connection, username: str, password: str, account: str | None) -> Caller:
    """Check a username/password; return the account it may act as (the default one unless named)."""
    query = select(t.identities).where(t.identities.c.identity == username, t.identities.c.type == "USERPASS")
    rows = [r for r in conn.execute(query) if account is None or r.account == account]
    for row in rows:
        if row.password_hash and verify_password(password, row.password_hash):
            status = conn.execute(select(t.accounts.c.status).where(t.accounts.c.name == row.account)).scalar()
            if status != "ACTIVE":
                raise Unauthenticated(f"account '{row.account}' is {str(status).lower()}")
            return Caller(account=row.account, admin=is_admin(conn, row.account))
    raise Unauthenticated("wrong username or password")


def ensure_account(conn: Connection, account: AccountIn, admin: bool = False) -> bool:
    """Create the account if missing (bootstrap); True if it was created."""
    if conn.execute(select(t.accounts.c.name).where(t.accounts.c.name == account.name)).first():
        return False
    _insert_account(conn, account, admin)
    return True
