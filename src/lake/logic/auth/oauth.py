"""The OAuth2 token service: password, client-credentials, refresh and token-exchange grants (RFC 6749, 8693),
revocation (RFC 7009) and introspection (RFC 7662).

Scope policy (every grant): `lake.api` (the native API), `wlcg.groups[:/vo/sub]` and storage scopes with
a canonical path are the only scopes issued; `offline_access` asks for a refresh token. Administrators may
get any storage scope. Other accounts may get `storage.read` and `storage.stage` on any path, but
`storage.create` and `storage.modify` only on `/<scope>` or below for a Lake scope they own, or where a
storage policy of the account or of its groups covers the path for every requested audience
(storage_policy.py). Groups: `wlcg.groups` asks for the default groups, `wlcg.groups:/vo/sub` for one
(optional) group (groups.py); a group the account is not in is refused with `invalid_scope` (RFC 6749
section 5.2: the token endpoint's code for a scope beyond the owner's grant; `access_denied` belongs to
the authorization endpoint). A client never gets more than it was registered with (`wlcg.groups` covers
every group scope); a refresh or exchanged token never gets more than the grant or subject token it
comes from, and an exchanged token keeps the subject token's audiences unless that one was meant for the API.

A subject token (exchange, introspection) is Lake's own, for whatever audience it names, or one of a trusted
external issuer, validated as the API does (Lake's audience) and acting as the account its subject is mapped
to (external.py); the scopes of the new token stay within the external token's that its issuer is trusted for.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC
from typing import Any

import jwt
from sqlalchemy import Connection

from lake.core.errors import InvalidInput, InvalidToken, LakeError, Unauthenticated
from lake.core.scopes import API_SCOPE
from lake.core.tokens import MAX_TOKEN_SIZE, TokenClaims, TokenValidator
from lake.logic.auth.accounts import authenticate_userpass, is_admin
from lake.logic.auth.clients import Client, authenticate_client
from lake.logic.auth.device import device_code_grant
from lake.logic.auth.external import ExternalIssuers, mapped_account
from lake.logic.auth.grants import (
    ACCESS_TOKEN_TYPE,
    OFFLINE,
    STORAGE_OWNED_ONLY,
    STORAGE_READ_ANYWHERE,
    Form,
    OAuthError,
    access_body,
    active_account,
    audiences_within,
    authorize_scopes,
    required,
    within,
    words,
)
from lake.logic.auth.groups import is_group_scope
from lake.logic.auth.issuer import TokenIssuer
from lake.logic.auth.permissions import Caller
from lake.logic.auth.refresh import issue_refresh, lookup_refresh, revoke_refresh, use_refresh

TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
JWT_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:jwt"
REFRESH_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:refresh_token"
DEVICE_CODE = "urn:ietf:params:oauth:grant-type:device_code"
GRANT_TYPES = ("password", "client_credentials", "refresh_token", TOKEN_EXCHANGE, DEVICE_CODE)


@dataclass(frozen=True)
class Trust:
    """How subject tokens are judged: the API's validator (trusted external issuers, Lake's audience) and the
    external issuers' trusted scopes (an external token counts only with the scopes its issuer is trusted for)."""

    validator: TokenValidator
    external: ExternalIssuers


def authenticate(conn: Connection, form: Form, basic: tuple[str, str] | None) -> Client | None:
    """The client from HTTP Basic or `client_id`/`client_secret` form fields; None for a public request."""
    if basic is not None and "client_id" in form:
        raise OAuthError("invalid_request", "use one client authentication method, not two")
    client_id, secret = basic or (form.get("client_id", ""), form.get("client_secret", ""))
    if not client_id:
        return None
    try:
        return authenticate_client(conn, client_id, secret)
    except Unauthenticated as err:
        raise OAuthError("invalid_client", err.message, 401) from None


def _password(conn: Connection, issuer: TokenIssuer, form: Form, client: Client | None) -> dict[str, Any]:
    """Resource-owner password grant; `offline_access` adds a refresh token bound to the client (if any)."""
    caller = authenticate_userpass(
        conn, required(form, "username"), required(form, "password"), form.get("account") or None
    )
    scopes = words(form, "scope") or [API_SCOPE]
    audiences = words(form, "audience") or [issuer.api_audience]
    if client is not None:
        within(scopes, [*client.scopes, OFFLINE], "client's registered scopes")
        audiences_within(audiences, client.audiences, "client")
    groups = authorize_scopes(conn, caller, scopes, audiences)
    body = access_body(issuer, caller.account, scopes, audiences, groups)
    if OFFLINE in scopes:
        client_id = client.client_id if client else None
        body["refresh_token"] = issue_refresh(conn, caller.account, client_id, body["scope"].split(), audiences)
    return body


def _client_credentials(conn: Connection, issuer: TokenIssuer, form: Form, client: Client | None) -> dict[str, Any]:
    """Client-credentials grant: a token for the client's account, within its registration; no refresh token."""
    if client is None:
        raise OAuthError("invalid_client", "client authentication is required", 401)
    scopes = [scope for scope in words(form, "scope") if scope != OFFLINE] or list(client.scopes)
    audiences = words(form, "audience") or list(client.audiences)
    within(scopes, client.scopes, "client's registered scopes")
    audiences_within(audiences, client.audiences, "client")
    groups = authorize_scopes(conn, client.caller(conn), scopes, audiences)
    return access_body(issuer, client.account, scopes, audiences, groups)


def _refresh(conn: Connection, issuer: TokenIssuer, form: Form, client: Client | None) -> dict[str, Any]:
    """Refresh grant: a new access token within the refresh token's scopes and audiences (reusable token)."""
    grant = use_refresh(conn, required(form, "refresh_token"), client.client_id if client else None)
    scopes = [scope for scope in words(form, "scope") if scope != OFFLINE] or list(grant.scopes)
    audiences = words(form, "audience") or list(grant.audiences)
    within(scopes, grant.scopes, "refresh token's scopes")
    audiences_within(audiences, grant.audiences, "refresh token")
    groups = authorize_scopes(conn, Caller(grant.account, is_admin(conn, grant.account)), scopes, audiences)
    return access_body(issuer, grant.account, scopes, audiences, groups)


def subject_claims(issuer: TokenIssuer, token: str, trust: Trust) -> TokenClaims:
    """Validate a subject token: Lake's own for whatever audience it names (signature, times, profile); any
    other only by the API's validator (trusted external issuers, Lake's audience, no key fetch for an issuer it
    does not trust), keeping only the scopes its issuer is trusted for."""
    if len(token) > MAX_TOKEN_SIZE:
        raise InvalidToken(f"token longer than {MAX_TOKEN_SIZE} characters")
    try:
        unverified = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError as err:
        raise InvalidToken(f"malformed token: {err}") from None
    if unverified.get("iss") != issuer.issuer:
        claims = trust.validator.validate(token)
        return dataclasses.replace(claims, scopes=trust.external.trusted_scopes(claims))
    aud = unverified.get("aud")
    audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
    if not audiences or not all(isinstance(a, str) and a for a in audiences):
        raise InvalidToken("token has no valid 'aud' claim")
    validator = TokenValidator({issuer.issuer: issuer.keystore.keyset}, audiences=audiences, cache_size=0)
    return validator.validate(token)


def _subject_caller(conn: Connection, issuer: TokenIssuer, claims: TokenClaims) -> Caller:
    """The active account of validated subject claims: Lake's `sub`, or the account an external subject is mapped
    to (Unauthenticated if unmapped or inactive)."""
    if claims.iss == issuer.issuer:
        return active_account(conn, claims.sub)
    account = mapped_account(conn, claims.sub, claims.iss)
    return Caller(account, is_admin(conn, account))


def _lake_scope(scope: str) -> bool:
    """Whether Lake issues this kind of scope (an external token may also carry `openid`, `profile`, ...)."""
    name, sep, _path = scope.partition(":")
    storage = bool(sep) and name in STORAGE_READ_ANYWHERE | STORAGE_OWNED_ONLY
    return storage or scope == API_SCOPE or is_group_scope(scope)


def _exchange_audiences(issuer: TokenIssuer, form: Form, claims: TokenClaims, client: Client | None) -> list[str]:
    """The new token's audiences: any for a token meant for Lake's API (an external one always is), else only
    its own (a storage token is never re-targeted at other storage); within the client's registration."""
    audiences = words(form, "audience") or list(claims.aud)
    if claims.iss == issuer.issuer and issuer.api_audience not in claims.aud:
        audiences_within(audiences, claims.aud, "subject token")
    if client is not None:
        audiences_within(audiences, client.audiences, "client")
    return audiences


def _exchange(conn: Connection, issuer: TokenIssuer, form: Form, client: Client | None, trust: Trust) -> dict[str, Any]:
    """RFC 8693: a subject token for a narrower access token, or (for a client) for a refresh token."""
    if form.get("subject_token_type") not in (ACCESS_TOKEN_TYPE, JWT_TOKEN_TYPE):
        raise OAuthError("invalid_request", "subject_token_type must be an access token or a JWT")
    claims = subject_claims(issuer, required(form, "subject_token"), trust)
    caller = _subject_caller(conn, issuer, claims)
    requested = [scope for scope in words(form, "scope") if scope != OFFLINE]
    scopes = requested or [scope for scope in claims.scopes if _lake_scope(scope)]
    within(scopes, claims.scopes, "subject token's scopes")
    audiences = _exchange_audiences(issuer, form, claims, client)
    groups = authorize_scopes(conn, caller, scopes, audiences)
    wanted = form.get("requested_token_type") or ACCESS_TOKEN_TYPE
    if wanted == ACCESS_TOKEN_TYPE:
        return access_body(issuer, caller.account, scopes, audiences, groups)
    if wanted != REFRESH_TOKEN_TYPE:
        raise OAuthError("invalid_request", f"cannot issue token type {wanted!r}")
    if client is None:
        raise OAuthError("invalid_client", "a refresh token is issued only to an authenticated client", 401)
    refresh = issue_refresh(conn, caller.account, client.client_id, scopes, audiences)
    return {
        "access_token": refresh,
        "refresh_token": refresh,
        "token_type": "N_A",
        "issued_token_type": REFRESH_TOKEN_TYPE,
        "scope": " ".join(scopes),
    }


_Grant = Callable[[Connection, TokenIssuer, Form, Client | None], dict[str, Any]]
_GRANTS: dict[str, _Grant] = {
    "password": _password,
    "client_credentials": _client_credentials,
    "refresh_token": _refresh,
    DEVICE_CODE: device_code_grant,
}


def token_request(
    conn: Connection, issuer: TokenIssuer, form: Form, basic: tuple[str, str] | None, trust: Trust
) -> dict[str, Any]:
    """Handle one token-endpoint request; every failure is an OAuthError with an RFC 6749 code.

    `trust` judges the exchange grant's subject tokens of external issuers.
    """
    name = form.get("grant_type", "")
    if name not in GRANT_TYPES:
        raise OAuthError("unsupported_grant_type", f"grant_type must be one of {', '.join(GRANT_TYPES)}")
    client = authenticate(conn, form, basic)
    try:
        if name == TOKEN_EXCHANGE:
            return _exchange(conn, issuer, form, client, trust)
        return _GRANTS[name](conn, issuer, form, client)
    except Unauthenticated as err:
        raise OAuthError("invalid_grant", err.message) from None
    except InvalidInput as err:
        raise OAuthError("invalid_request", err.message) from None


def revoke(conn: Connection, form: Form, basic: tuple[str, str] | None) -> None:
    """RFC 7009: revoke a refresh token; unknown tokens and access tokens are ignored (always success).

    A token bound to a client is revoked only when that client authenticates (wrong credentials are an
    `invalid_client` error); an unbound one by whoever holds it.
    """
    client = authenticate(conn, form, basic)
    token = form.get("token", "")
    grant = lookup_refresh(conn, token) if token else None
    if grant is not None and grant.client_id in (None, client.client_id if client else None):
        revoke_refresh(conn, token)


def introspect(conn: Connection, issuer: TokenIssuer, form: Form, trust: Trust) -> dict[str, Any]:
    """RFC 7662: what a token stands for, or only `{"active": false}` if it is invalid, revoked or expired.

    `username` is the Lake account: `sub` for Lake's tokens, the mapped account for a trusted external issuer's.
    """
    token = form.get("token", "")
    grant = lookup_refresh(conn, token) if token else None
    if grant is not None:
        return {
            "active": True,
            "token_type": "refresh_token",
            "sub": grant.account,
            "username": grant.account,
            "client_id": grant.client_id,
            "scope": " ".join(grant.scopes),
            "aud": list(grant.audiences),
            "iss": issuer.issuer,
            "exp": int(grant.expires_at.replace(tzinfo=UTC).timestamp()),
        }
    try:
        claims = subject_claims(issuer, token, trust)
        caller = _subject_caller(conn, issuer, claims)
    except LakeError:
        return {"active": False}
    groups = {"wlcg.groups": list(claims.groups)} if claims.groups else {}
    return {
        "active": True,
        "token_type": "Bearer",
        "sub": claims.sub,
        "username": caller.account,
        "scope": " ".join(claims.scopes),
        "aud": list(claims.aud),
        "iss": claims.iss,
        "exp": claims.exp,
        "iat": claims.iat,
        "jti": claims.jti,
        **groups,
    }
