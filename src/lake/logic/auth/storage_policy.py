"""Storage policies: which `storage.*` scope paths and audiences an account or group may get in tokens.

A policy row names a subject (`account:<name>` or `group:</vo/sub>`), a storage scope with its path and an
audience (exact, or `*` for any). It allows that operation on that path and below (whole path segments;
`storage.modify` covers `storage.create`) for tokens whose every audience is allowed. A group's policies
apply to its default members always, and to optional members only in tokens that assert the group.
The built-in rules in oauth.py (admins anything, reads anywhere, writes below owned Lake scopes) stay.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, delete, insert, select

from lake.core.clock import utcnow
from lake.core.errors import InvalidInput, InvalidToken, NotFound
from lake.core.scopes import StorageOp, check_scope_path, storage_allowed
from lake.db import schema_auth as ta
from lake.logic.auth.accounts import get_account
from lake.logic.auth.groups import memberships, validate_group
from lake.logic.auth.permissions import Caller, require_admin

ANY_AUDIENCE = "*"


@dataclass(frozen=True)
class StoragePolicy:
    """One grant of a storage scope path and audience to an account or group."""

    id: int
    subject: str
    scope: str
    audience: str
    created_at: datetime


def _check_subject(conn: Connection, subject: str) -> None:
    """`account:<existing account>` or `group:<existing group>`."""
    kind, _, name = subject.partition(":")
    if kind == "account" and name:
        get_account(conn, name)
    elif kind == "group":
        validate_group(name)
        if conn.execute(select(ta.groups.c.name).where(ta.groups.c.name == name)).first() is None:
            raise NotFound(f"group '{name}' does not exist")
    else:
        raise InvalidInput(f"subject must be account:<name> or group:</vo/sub>, not {subject!r}")


def _check_scope(scope: str) -> None:
    """A storage scope with a canonical path, e.g. `storage.create:/escape/cta`."""
    name, sep, path = scope.partition(":")
    if not name.startswith("storage.") or name.removeprefix("storage.") not in set(StorageOp) or not sep:
        raise InvalidInput(f"{scope!r} is not a storage scope with a path, e.g. storage.create:/vo/dir")
    try:
        check_scope_path(path)
    except InvalidToken as err:
        raise InvalidInput(f"{scope!r}: {err.message}") from None


def add_policy(
    conn: Connection, caller: Caller, subject: str, scope: str, audience: str = ANY_AUDIENCE
) -> StoragePolicy:
    """Admin only: let `subject` get `scope` (and narrower) in tokens for `audience`."""
    require_admin(caller)
    _check_subject(conn, subject)
    _check_scope(scope)
    if not audience or audience.split() != [audience] or len(audience) > 255:
        raise InvalidInput(f"audience must be one word (an origin such as https://host:port) or *, not {audience!r}")
    now = utcnow()
    values = {"subject": subject, "scope": scope, "audience": audience, "created_at": now}
    policy_id = conn.execute(insert(ta.storage_policies).values(**values)).inserted_primary_key[0]  # type: ignore[index]
    return StoragePolicy(int(policy_id), subject, scope, audience, now)


def remove_policy(conn: Connection, caller: Caller, policy_id: int) -> None:
    """Admin only: revoke a policy; tokens already issued keep working until they expire."""
    require_admin(caller)
    if conn.execute(delete(ta.storage_policies).where(ta.storage_policies.c.id == policy_id)).rowcount == 0:
        raise NotFound(f"storage policy {policy_id} does not exist")


def list_policies(conn: Connection, subjects: Iterable[str] | None = None) -> list[StoragePolicy]:
    """Policies by id, optionally only those of the given subjects."""
    query = select(ta.storage_policies).order_by(ta.storage_policies.c.id)
    if subjects is not None:
        query = query.where(ta.storage_policies.c.subject.in_(list(subjects)))
    return [StoragePolicy(r.id, r.subject, r.scope, r.audience, r.created_at) for r in conn.execute(query)]


def applicable_policies(conn: Connection, account: str, token_groups: Iterable[str] = ()) -> list[StoragePolicy]:
    """The account's own policies and those of its default groups and of optional groups the token asserts."""
    asserted = set(token_groups)
    groups = [group for group, optional in memberships(conn, account).items() if not optional or group in asserted]
    return list_policies(conn, [f"account:{account}", *(f"group:{group}" for group in groups)])


def policy_allows(policies: Sequence[StoragePolicy], scope: str, audiences: Sequence[str] | None) -> bool:
    """Whether policies cover `scope` (path segments) for every audience; None audiences need `*`."""
    name, _, path = scope.partition(":")
    op = name.removeprefix("storage.")
    covering = [policy for policy in policies if storage_allowed([policy.scope], op, path)]
    allowed = {policy.audience for policy in covering}
    if ANY_AUDIENCE in allowed:
        return True
    return audiences is not None and bool(covering) and all(audience in allowed for audience in audiences)
