"""Scopes: namespaces of DIDs, each owned by an account."""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import Connection, insert, select

from lake.core.clock import utcnow
from lake.core.errors import AlreadyExists
from lake.core.models import ScopeIn, ScopeOut
from lake.core.names import validate_scope
from lake.db import schema as t
from lake.logic.auth.accounts import get_account
from lake.logic.auth.permissions import Caller, require_admin


def add_scope(conn: Connection, caller: Caller, scope: ScopeIn) -> ScopeOut:
    require_admin(caller)
    validate_scope(scope.name)
    owner = scope.account or caller.account
    get_account(conn, owner)
    if conn.execute(select(t.scopes.c.name).where(t.scopes.c.name == scope.name)).first():
        raise AlreadyExists(f"scope '{scope.name}' already exists")
    conn.execute(insert(t.scopes).values(name=scope.name, account=owner, status="OPEN", created_at=utcnow()))
    return ScopeOut(name=scope.name, account=owner, status="OPEN")


def list_scopes(conn: Connection, account: str | None = None) -> Iterator[ScopeOut]:
    query = select(t.scopes).order_by(t.scopes.c.name)
    if account:
        query = query.where(t.scopes.c.account == account)
    for row in conn.execute(query):
        yield ScopeOut(name=row.name, account=row.account, status=row.status)
