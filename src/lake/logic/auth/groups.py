"""Groups (WLCG `/vo/sub` paths) and their members, and the `wlcg.groups` claim a token request gets.

An admin creates groups and adds accounts as *default* members (always asserted when groups are requested)
or *optional* members (asserted only when that group is asked for, like a VOMS role). Parents are never
implied: `/escape/cta` does not make an account a member of `/escape` (tokens.md 2.6).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, delete, insert, select

from lake.core.clock import utcnow
from lake.core.errors import AlreadyExists, InvalidInput, NotFound, PermissionDenied
from lake.db import schema_auth as ta
from lake.logic.auth.accounts import get_account
from lake.logic.auth.keystore import GROUP_PATH
from lake.logic.auth.permissions import Caller, require_admin

GROUPS_SCOPE = "wlcg.groups"


@dataclass(frozen=True)
class Member:
    account: str
    optional: bool


@dataclass(frozen=True)
class Group:
    """A group with its members (sorted by account)."""

    name: str
    description: str | None
    members: tuple[Member, ...] = ()


def validate_group(name: str) -> None:
    """`/vo` or `/vo/sub...`, each part `[a-zA-Z0-9][a-zA-Z0-9_.-]*` (the WLCG group grammar)."""
    if not isinstance(name, str) or len(name) > 128 or not GROUP_PATH.fullmatch(name):
        raise InvalidInput(f"{name!r} is not a group path like /vo or /vo/sub")


def _require_group(conn: Connection, name: str) -> None:
    validate_group(name)
    if conn.execute(select(ta.groups.c.name).where(ta.groups.c.name == name)).first() is None:
        raise NotFound(f"group '{name}' does not exist")


def add_group(conn: Connection, caller: Caller, name: str, description: str | None = None) -> Group:
    """Admin only: create a group."""
    require_admin(caller)
    validate_group(name)
    if conn.execute(select(ta.groups.c.name).where(ta.groups.c.name == name)).first():
        raise AlreadyExists(f"group '{name}' already exists")
    conn.execute(insert(ta.groups).values(name=name, description=description, created_at=utcnow()))
    return Group(name, description)


def add_member(conn: Connection, caller: Caller, group: str, account: str, optional: bool = False) -> Member:
    """Admin only: make an account a default (or optional) member; adding again changes the kind."""
    require_admin(caller)
    _require_group(conn, group)
    get_account(conn, account)
    match = (ta.group_members.c.group_name == group) & (ta.group_members.c.account == account)
    conn.execute(delete(ta.group_members).where(match))
    values = {"group_name": group, "account": account, "optional": optional, "created_at": utcnow()}
    conn.execute(insert(ta.group_members).values(**values))
    return Member(account, optional)


def remove_member(conn: Connection, caller: Caller, group: str, account: str) -> None:
    """Admin only: take an account out of a group (NotFound if it was not a member)."""
    require_admin(caller)
    match = (ta.group_members.c.group_name == group) & (ta.group_members.c.account == account)
    if conn.execute(delete(ta.group_members).where(match)).rowcount == 0:
        raise NotFound(f"account '{account}' is not a member of group '{group}'")


def list_groups(conn: Connection) -> list[Group]:
    """Every group with its members, by name (two queries)."""
    members: dict[str, list[Member]] = {}
    query = select(ta.group_members).order_by(ta.group_members.c.account)
    for row in conn.execute(query):
        members.setdefault(row.group_name, []).append(Member(row.account, row.optional))
    rows = conn.execute(select(ta.groups).order_by(ta.groups.c.name))
    return [Group(row.name, row.description, tuple(members.get(row.name, ()))) for row in rows]


def memberships(conn: Connection, account: str) -> dict[str, bool]:
    """The account's groups: name -> optional."""
    query = select(ta.group_members.c.group_name, ta.group_members.c.optional)
    return {row.group_name: row.optional for row in conn.execute(query.where(ta.group_members.c.account == account))}


def is_group_scope(scope: str) -> bool:
    """`wlcg.groups` or `wlcg.groups:/vo/sub`."""
    return scope == GROUPS_SCOPE or scope.startswith(GROUPS_SCOPE + ":")


def resolve_groups(conn: Connection, account: str, scopes: Sequence[str]) -> tuple[list[str], list[str]]:
    """The `wlcg.groups` claim for a token request, and the request's other scopes.

    Groups asked for by `wlcg.groups:/vo/sub` come first in request order, then the default groups
    (sorted), without duplicates; any group scope implies bare `wlcg.groups`. No group scope: no groups.
    A group the account is not a member of raises PermissionDenied (the token endpoint answers
    `invalid_scope`, see oauth.py); a malformed one InvalidInput.
    """
    rest = [scope for scope in scopes if not is_group_scope(scope)]
    if len(rest) == len(scopes):
        return [], rest
    member = memberships(conn, account)
    explicit = [scope.partition(":")[2] for scope in scopes if is_group_scope(scope) and scope != GROUPS_SCOPE]
    for group in explicit:
        validate_group(group)
        if group not in member:
            raise PermissionDenied(f"account '{account}' is not a member of group '{group}'")
    defaults = sorted(group for group, optional in member.items() if not optional)
    return list(dict.fromkeys([*explicit, *defaults])), rest
