"""Trusted external OIDC issuers: their keys over verified https, and their subjects mapped to Lake accounts.

Keys come from `<issuer>/.well-known/openid-configuration` -> `jwks_uri`, both over https with certificate
and hostname verification (system CAs plus the issuer's optional `ca_file`), no redirects, documents capped
at MAX_DOCUMENT_BYTES. The document's `issuer` must equal the configured one, and `jwks_uri` must be https on
the issuer's own host and port (no fetch elsewhere). The validator decides when to call the loader (hourly,
and once a minute at most on an unknown kid) and keeps the last good keys while the issuer is down.

An external token's `sub`+`iss` is an OIDC identity (`SUB=<sub>, ISS=<iss>`, as Rucio stores it) that an
administrator maps to a Lake account; the lookup is cached for MAPPING_CACHE_SECONDS on the hot path. Lake
honours only the scopes its issuer is trusted for (`TrustedIssuerSettings.scopes`), and a token acts on the API
only if one of them is `lake.api`.
"""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson
from sqlalchemy import Connection, insert, select

from lake.core.clock import utcnow
from lake.core.errors import AlreadyExists, InsufficientScope, InvalidInput, Unauthenticated, Unavailable
from lake.core.scopes import API_SCOPE, scopes_within
from lake.core.settings import TrustedIssuerSettings
from lake.core.tokens import KeySet, KeySource, TokenClaims, quote_claim
from lake.db import schema as t
from lake.db.engine import Database
from lake.logic.auth.accounts import get_account
from lake.logic.auth.permissions import Caller, require_admin

OIDC = "OIDC"
DISCOVERY_PATH = "/.well-known/openid-configuration"
MAX_DOCUMENT_BYTES = 1 << 20  # like scitokens-cpp's JWKS cap
FETCH_TIMEOUT = 5.0
MAPPING_CACHE_SECONDS = 30.0  # a removed mapping stops working within this long
MAX_IDENTITY = 255  # identities.identity


def oidc_identity(subject: str, issuer: str) -> str:
    """The identity string of an external subject, in Rucio's OIDC form."""
    return f"SUB={subject}, ISS={issuer}"


def _origin(url: str) -> tuple[str, str | None, int | None]:
    parts = urlsplit(url)
    return parts.scheme, parts.hostname, parts.port or (443 if parts.scheme == "https" else None)


class DiscoveryKeys:
    """A key loader for one issuer: discovery document, then its JWKS, both over verified https."""

    def __init__(self, issuer: str, ca_file: str | None = None, timeout: float = FETCH_TIMEOUT) -> None:
        if _origin(issuer)[0] != "https":
            raise InvalidInput(f"issuer {issuer!r} is not https: its keys are never fetched")
        self.issuer = issuer
        self._tls = ssl.create_default_context()
        if ca_file:
            self._tls.load_verify_locations(cafile=ca_file)
        self._timeout = timeout

    def __call__(self) -> KeySet:
        with httpx.Client(verify=self._tls, timeout=self._timeout, follow_redirects=False) as client:
            document = self._json(client, self.issuer.rstrip("/") + DISCOVERY_PATH)
            if document.get("issuer") != self.issuer:
                raise Unavailable(
                    f"discovery document of {self.issuer} names issuer {quote_claim(document.get('issuer'))}"
                )
            jwks_uri = document.get("jwks_uri")
            if not isinstance(jwks_uri, str) or _origin(jwks_uri) != _origin(self.issuer):
                raise Unavailable(
                    f"jwks_uri {quote_claim(jwks_uri)} of {self.issuer} is not https on the issuer's host"
                )
            try:
                return KeySet.from_jwks(self._json(client, jwks_uri))
            except InvalidInput as err:
                raise Unavailable(f"JWKS of {self.issuer}: {err.message}") from None

    def _json(self, client: httpx.Client, url: str) -> dict[str, Any]:
        """GET a JSON object of at most MAX_DOCUMENT_BYTES; any failure is Unavailable."""
        try:
            with client.stream("GET", url, headers={"Accept": "application/json"}) as response:
                response.raise_for_status()
                body = bytearray()
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > MAX_DOCUMENT_BYTES:
                        raise Unavailable(f"{url} is larger than {MAX_DOCUMENT_BYTES} bytes")
            document = orjson.loads(body)
        except (httpx.HTTPError, orjson.JSONDecodeError) as err:
            raise Unavailable(f"cannot fetch {url}: {err}") from None
        if not isinstance(document, dict):
            raise Unavailable(f"{url} is not a JSON object")
        return document


class ExternalIssuers:
    """The configured external issuers: key sources and audiences for the validator, and the account map."""

    def __init__(
        self,
        trusted: Sequence[TrustedIssuerSettings],
        default_audience: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = {item.issuer: item for item in trusted}
        self._default_audience = default_audience
        self._clock = clock
        self._accounts: dict[tuple[str, str], tuple[str, float]] = {}
        self._lock = threading.Lock()

    def key_sources(self) -> dict[str, KeySource]:
        return {
            iss: DiscoveryKeys(iss, str(item.ca_file) if item.ca_file else None) for iss, item in self.settings.items()
        }

    def audiences(self) -> Mapping[str, Sequence[str]]:
        return {iss: item.audiences or [self._default_audience] for iss, item in self.settings.items()}

    def trusted_scopes(self, claims: TokenClaims) -> tuple[str, ...]:
        """The token's scopes Lake honours: all of its own; of an external token, what its issuer is trusted for."""
        item = self.settings.get(claims.iss)
        if item is None:
            return claims.scopes
        return scopes_within(claims.scopes, item.scopes)

    def api_account(self, db: Database, claims: TokenClaims) -> str:
        """The account a validated token acts as on the API; InsufficientScope unless it carries the API scope."""
        if API_SCOPE not in self.trusted_scopes(claims):
            granted = " ".join(claims.scopes) or "no scope"
            raise InsufficientScope(
                f"this token ({quote_claim(granted)}) does not grant {API_SCOPE}: it may act at storage, not on"
                " the API; log in (`lake login`) or exchange a token that carries it"
            )
        return self.account_of(db, claims)

    def account_of(self, db: Database, claims: TokenClaims) -> str:
        """The Lake account of validated claims: `sub` for Lake's own tokens, the mapped account otherwise."""
        if claims.iss not in self.settings:
            return claims.sub
        key, now = (claims.iss, claims.sub), self._clock()
        with self._lock:
            hit = self._accounts.get(key)
        if hit is not None and now - hit[1] < MAPPING_CACHE_SECONDS:
            return hit[0]
        with db.transaction() as conn:
            account = mapped_account(conn, claims.sub, claims.iss)
        with self._lock:
            self._accounts[key] = (account, now)
        return account


def mapped_account(conn: Connection, subject: str, issuer: str) -> str:
    """The active account an external subject is mapped to (its default one if several), else Unauthenticated."""
    query = (
        select(t.identities.c.account, t.accounts.c.status)
        .join(t.accounts, t.accounts.c.name == t.identities.c.account)
        .where(t.identities.c.identity == oidc_identity(subject, issuer), t.identities.c.type == OIDC)
        .order_by(t.identities.c.is_default.desc(), t.identities.c.account)
    )
    row = conn.execute(query).first()
    if row is None:
        raise Unauthenticated(
            f"subject {quote_claim(subject)} of issuer {issuer} is not mapped to a Lake account:"
            " an administrator maps it with `lake account add-identity`"
        )
    if row.status != "ACTIVE":
        raise Unauthenticated(f"account '{row.account}' is {str(row.status).lower()}")
    return str(row.account)


def add_oidc_identity(conn: Connection, caller: Caller, account: str, issuer: str, subject: str) -> str:
    """Map an external issuer's subject to an account (administrators only); returns the identity string."""
    require_admin(caller)
    get_account(conn, account)
    identity = oidc_identity(subject, issuer)
    if _origin(issuer)[0] != "https" or not subject or len(identity) > MAX_IDENTITY:
        raise InvalidInput(f"an OIDC identity needs an https issuer and a subject ({MAX_IDENTITY} characters at most)")
    key = (t.identities.c.identity == identity) & (t.identities.c.type == OIDC) & (t.identities.c.account == account)
    if conn.execute(select(t.identities.c.account).where(key)).first():
        raise AlreadyExists(f"identity '{identity}' already belongs to account '{account}'")
    conn.execute(
        insert(t.identities).values(identity=identity, type=OIDC, account=account, is_default=True, created_at=utcnow())
    )
    return identity
