"""Who may do what: the caller model and the permission checks every route goes through."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, select

from lake.core.errors import PermissionDenied, ScopeNotFound
from lake.db import schema as t


@dataclass(frozen=True)
class Caller:
    """The authenticated account behind a request or a daemon."""

    account: str
    admin: bool = False


def require_admin(caller: Caller) -> None:
    if not caller.admin:
        raise PermissionDenied(f"account '{caller.account}' is not an administrator")


def require_scope_writer(conn: Connection, caller: Caller, scope: str) -> None:
    """Only the scope's owner (or an admin) may create or change DIDs and replicas in it."""
    owner = conn.execute(select(t.scopes.c.account).where(t.scopes.c.name == scope)).scalar()
    if owner is None:
        raise ScopeNotFound(f"scope '{scope}' does not exist")
    if not caller.admin and owner != caller.account:
        raise PermissionDenied(f"account '{caller.account}' may not write in scope '{scope}' (owner: {owner})")
