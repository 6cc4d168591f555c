"""Bearer-token authorization for the endpoint: WLCG storage scopes, deny by default.

Keys come from the caller (`create_app(keys=...)`) or from `settings.jwks_url` (fetched on first use,
refetched hourly and on an unknown kid, at most once a minute: see lake.core.tokens). With neither,
the endpoint trusts no issuer and refuses every request.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

import httpx

from lake.core.errors import InvalidToken, PermissionDenied, Unauthenticated, Unavailable
from lake.core.scopes import StorageOp, claims_allow_storage
from lake.core.settings import EndpointSettings
from lake.core.tokens import KeySet, KeySource, TokenClaims, TokenValidator

JWKS_TIMEOUT = 5.0
# WLCG profile: every storage.* scope also allows stat (size, checksum) on its paths.
STAT_OPS = (StorageOp.READ, StorageOp.CREATE, StorageOp.STAGE)


def jwks_loader(url: str, verify: bool | str = True) -> Callable[[], KeySet]:
    """A key source that downloads a JWKS document (the validator decides when to call it)."""

    def load() -> KeySet:
        try:
            response = httpx.get(url, timeout=JWKS_TIMEOUT, verify=verify)
            response.raise_for_status()
            return KeySet.from_jwks(response.json())
        except (httpx.HTTPError, ValueError) as exc:
            raise Unavailable(f"cannot fetch JWKS from {url}: {exc}") from exc

    return load


def audiences(settings: EndpointSettings) -> list[str]:
    """The configured audience, else the origin and the bare host name (Rucio's habit)."""
    if settings.audience:
        return [settings.audience]
    return [settings.origin(), urlsplit(settings.origin()).hostname or settings.host]


class Authorizer:
    """Turns an Authorization header into claims and checks scopes against canonical paths."""

    def __init__(self, validator: TokenValidator | None) -> None:
        self.validator = validator

    @classmethod
    def from_settings(cls, settings: EndpointSettings, keys: KeySource | None) -> Authorizer:
        source = keys
        if source is None and settings.jwks_url:
            source = jwks_loader(settings.jwks_url)
        if source is None:
            return cls(None)
        return cls(TokenValidator({settings.issuer: source}, audiences(settings)))

    def claims(self, authorization: str | None) -> TokenClaims:
        """Validate `Authorization: Bearer <token>`; no token or no trusted issuer is Unauthenticated."""
        if not authorization:
            raise Unauthenticated("a bearer token is required")
        kind, _, token = authorization.partition(" ")
        if kind.lower() != "bearer" or not token.strip():
            raise Unauthenticated("only bearer tokens are accepted")
        if self.validator is None:
            raise InvalidToken("this endpoint trusts no token issuer")
        return self.validator.validate(token.strip())

    @staticmethod
    def require(claims: TokenClaims, path: str, *ops: StorageOp) -> None:
        """Raise PermissionDenied unless a scope grants one of `ops` on `path`."""
        if not any(claims_allow_storage(claims, op, path) for op in ops):
            wanted = " or ".join(f"storage.{op.value}" for op in ops)
            raise PermissionDenied(f"token does not grant {wanted} on {path}")

    @staticmethod
    def allows(claims: TokenClaims, path: str, op: StorageOp) -> bool:
        return claims_allow_storage(claims, op, path)
