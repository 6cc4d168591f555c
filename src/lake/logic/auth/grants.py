"""What every OAuth grant shares (oauth.py's grants, device.py's device-code grant): the RFC 6749 error, form
parameters, the scope policy of oauth.py's docstring, and the body of a new access token."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, select

from lake.core.errors import InvalidInput, InvalidToken, PermissionDenied, Unauthenticated
from lake.core.scopes import API_SCOPE, check_scope_path, scope_covered
from lake.db import schema as t
from lake.logic.auth.accounts import is_admin
from lake.logic.auth.groups import GROUPS_SCOPE, is_group_scope, resolve_groups
from lake.logic.auth.issuer import TokenIssuer
from lake.logic.auth.permissions import Caller
from lake.logic.auth.storage_policy import StoragePolicy, applicable_policies, policy_allows

ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
OFFLINE = "offline_access"
STORAGE_READ_ANYWHERE = frozenset({"storage.read", "storage.stage"})
STORAGE_OWNED_ONLY = frozenset({"storage.create", "storage.modify"})
MAX_SCOPES = 32

Form = Mapping[str, str]


class OAuthError(Exception):
    """An RFC 6749 error response: `error` code, description and HTTP status."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        """`error` is an RFC 6749 code such as `invalid_grant`; 401 for client authentication failures."""
        super().__init__(description)
        self.error, self.description, self.status = error, description, status

    def body(self) -> dict[str, str]:
        """The JSON error body."""
        return {"error": self.error, "error_description": self.description}


def words(form: Form, name: str) -> list[str]:
    """A space-separated form parameter as a list without duplicates (order kept)."""
    return list(dict.fromkeys(form.get(name, "").split()))


def required(form: Form, name: str) -> str:
    """A mandatory form parameter; missing or empty is `invalid_request`."""
    value = form.get(name, "")
    if not value:
        raise OAuthError("invalid_request", f"missing parameter '{name}'")
    return value


def _owned_paths(conn: Connection, account: str) -> set[str]:
    """The Lake scopes an account owns: write scopes are allowed below `/<scope>`."""
    return set(conn.execute(select(t.scopes.c.name).where(t.scopes.c.account == account)).scalars())


def check_account_scopes(
    conn: Connection,
    caller: Caller,
    scopes: Sequence[str],
    audiences: Sequence[str] | None = None,
    groups: Sequence[str] = (),
) -> None:
    """Apply the scope policy of the module docstring; raise OAuthError(invalid_scope) on the first refusal.

    `audiences` are the token's (None: unknown, so only policies for any audience apply); `groups` the
    `wlcg.groups` it asserts (optional groups' policies apply only then). Group scopes are left to
    `authorize_scopes`.
    """
    if len(scopes) > MAX_SCOPES:
        raise OAuthError("invalid_scope", f"at most {MAX_SCOPES} scopes per token")
    owned: set[str] | None = None
    policies: list[StoragePolicy] | None = None
    for scope in scopes:
        name, sep, path = scope.partition(":")
        if scope == API_SCOPE or is_group_scope(scope):
            continue
        if name not in STORAGE_READ_ANYWHERE | STORAGE_OWNED_ONLY:
            raise OAuthError("invalid_scope", f"unknown scope {scope!r}")
        if not sep:
            raise OAuthError("invalid_scope", f"pathless storage scope {scope!r}")
        try:
            check_scope_path(path)
        except InvalidToken as err:
            raise OAuthError("invalid_scope", err.message) from None
        if caller.admin or name in STORAGE_READ_ANYWHERE:
            continue
        owned = _owned_paths(conn, caller.account) if owned is None else owned
        if path.split("/")[1] in owned:
            continue
        policies = applicable_policies(conn, caller.account, groups) if policies is None else policies
        if not policy_allows(policies, scope, audiences):
            refusal = f"account '{caller.account}' may not get {scope!r}"
            raise OAuthError("invalid_scope", f"{refusal}: not below one of its scopes nor allowed by a storage policy")


def authorize_scopes(conn: Connection, caller: Caller, scopes: Sequence[str], audiences: Sequence[str]) -> list[str]:
    """Resolve the request's groups and apply the scope policy; return the `wlcg.groups` claim.

    Every grant that issues an account token calls this (an unentitled group is `invalid_scope`).
    """
    try:
        groups, rest = resolve_groups(conn, caller.account, [scope for scope in scopes if scope != OFFLINE])
    except (PermissionDenied, InvalidInput) as err:
        raise OAuthError("invalid_scope", err.message) from None
    check_account_scopes(conn, caller, rest, audiences, groups)
    return groups


def within(requested: Sequence[str], allowed: Sequence[str], what: str) -> None:
    """Every requested scope must be covered by an allowed one."""
    for scope in requested:
        if is_group_scope(scope) and (
            GROUPS_SCOPE in allowed or scope == GROUPS_SCOPE and any(map(is_group_scope, allowed))
        ):
            continue  # `wlcg.groups` covers every group scope; any group scope implies bare `wlcg.groups`
        if not scope_covered(scope, allowed):
            raise OAuthError("invalid_scope", f"{scope!r} is not within the {what}")


def audiences_within(requested: Sequence[str], allowed: Sequence[str], what: str) -> None:
    """Every requested audience must be one of the allowed ones (exact match)."""
    extra = [aud for aud in requested if aud not in allowed]
    if extra:
        raise OAuthError("invalid_target", f"audience {extra[0]!r} is not allowed for the {what}")


def access_body(
    issuer: TokenIssuer, account: str, scopes: Sequence[str], audiences: Sequence[str], groups: Sequence[str] = ()
) -> dict[str, Any]:
    """The response body for a new access token (`groups` become its `wlcg.groups` claim)."""
    issued = [scope for scope in scopes if scope != OFFLINE]
    token = issuer.keystore.mint(issuer.issuer, account, list(audiences), issued, issuer.lifetime, groups)
    return {
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": issuer.lifetime,
        "scope": " ".join(issued),
        "issued_token_type": ACCESS_TOKEN_TYPE,
    }


def active_account(conn: Connection, account: str) -> Caller:
    """The caller for an account that exists and is active, else Unauthenticated."""
    status = conn.execute(select(t.accounts.c.status).where(t.accounts.c.name == account)).scalar()
    if status != "ACTIVE":
        raise Unauthenticated(f"account {account!r} is unknown or not active")
    return Caller(account, is_admin(conn, account))
