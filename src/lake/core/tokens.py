"""Token verification (pure, no I/O): strict WLCG-profile JWT validation and storage-scope matching.

Deny by default (docs/design.md, convention 9; docs checklist in tokens.md sections 1.2 and 5): the
issuer is allow-listed before any key lookup, the algorithm comes from the key type and never from the
token header, and storage scope paths match by whole path segment.
"""

from __future__ import annotations

import json
import logging
import math
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt import PyJWS
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
from jwt.exceptions import PyJWTError

from lake.core.errors import InvalidInput, InvalidToken, LakeError

log = logging.getLogger(__name__)

ANY_AUDIENCE = "https://wlcg.cern.ch/jwt/v1/any"
WLCG_VERSION = "1.0"
SUPPORTED_MAJOR = 1
MAX_TOKEN_SIZE = 8192
EXP_LEEWAY = 5  # profile v1.1+ drops the grace after exp: allow only a few seconds of skew
MIN_RSA_BITS = 2048
KEY_REFRESH_SECONDS = 3600  # key cache refresh (profile: 1-6 h); also the longest a validation is cached
KEY_EXPIRY_SECONDS = 2 * 86400  # cached keys outlive a down issuer this long (profile: expiry 1-4 d)
REFETCH_INTERVAL = 60  # at most one refetch per issuer per minute on unknown kids (no fetch amplification)

_JWS = PyJWS(algorithms=["RS256", "ES256"])  # nothing else is even registered: no HMAC, no none
_VERSION = re.compile(r"([0-9]+)\.([0-9]+)")


def quote_claim(value: Any) -> str:
    """Show an untrusted value in a message: repr, truncated (never echo a hostile claim whole)."""
    text = repr(value)
    return text if len(text) <= 64 else text[:61] + "..."


@dataclass(frozen=True)
class VerificationKey:
    """One public key and the only algorithm it may verify."""

    kid: str
    algorithm: str
    key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey


def _public_key(jwk: Mapping[str, Any]) -> tuple[str, rsa.RSAPublicKey | ec.EllipticCurvePublicKey] | None:
    """The pinned algorithm and public key of an RSA (>= 2048 bit) or P-256 JWK; None for anything else."""
    try:
        if jwk.get("kty") == "RSA":
            rsa_key = RSAAlgorithm.from_jwk({"kty": "RSA", "n": jwk.get("n"), "e": jwk.get("e")})
            if isinstance(rsa_key, rsa.RSAPublicKey) and rsa_key.key_size >= MIN_RSA_BITS:
                return "RS256", rsa_key
        elif jwk.get("kty") == "EC" and jwk.get("crv") == "P-256":
            ec_key = ECAlgorithm.from_jwk({name: jwk.get(name) for name in ("kty", "crv", "x", "y")})
            if isinstance(ec_key, ec.EllipticCurvePublicKey):
                return "ES256", ec_key
    except (PyJWTError, ValueError, TypeError, AttributeError):
        return None
    return None


def _key_from_jwk(jwk: Any) -> VerificationKey | None:
    """Turn one JWK into a verification key, or None if it cannot be one (HMAC, encryption, mislabelled)."""
    if not isinstance(jwk, Mapping) or not isinstance(jwk.get("kid"), str) or not jwk["kid"]:
        return None
    found = _public_key(jwk) if jwk.get("use", "sig") == "sig" else None
    if found is None or jwk.get("alg", found[0]) != found[0]:
        return None
    return VerificationKey(jwk["kid"], found[0], found[1])


class KeySet:
    """Public verification keys by kid, each pinned to the algorithm of its key type."""

    def __init__(self, keys: Iterable[VerificationKey] = ()) -> None:
        self._keys = {key.kid: key for key in keys}

    @classmethod
    def from_jwks(cls, jwks: Mapping[str, Any]) -> KeySet:
        """Build from a JWKS document, skipping keys that cannot verify RS256/ES256 (HMAC, enc, small RSA)."""
        entries = jwks.get("keys") if isinstance(jwks, Mapping) else None
        if not isinstance(entries, list):
            raise InvalidInput("JWKS document has no 'keys' list")
        return cls(key for key in map(_key_from_jwk, entries) if key is not None)

    def get(self, kid: str) -> VerificationKey | None:
        return self._keys.get(kid)

    def kids(self) -> frozenset[str]:
        return frozenset(self._keys)


KeySource = KeySet | Callable[[], KeySet]


class _LoadedKeys:
    """An issuer's keys from a loader: loaded when stale, and once more (rate-limited) on an unknown kid.

    A failed load keeps the last good keys until KEY_EXPIRY_SECONDS after they were loaded and is retried
    after REFETCH_INTERVAL; meanwhile (and with no good keys) requests fail fast with the load error.
    """

    def __init__(self, loader: Callable[[], KeySet], clock: Callable[[], float]) -> None:
        self._loader = loader
        self._clock = clock
        self._keyset = KeySet()
        self._loaded_at = self._good_at = self._refetched_at = -math.inf
        self._failure: LakeError | None = None
        self._lock = threading.Lock()

    def get(self, kid: str) -> VerificationKey | None:
        with self._lock:
            now = self._clock()
            if now - self._loaded_at >= KEY_REFRESH_SECONDS:
                self._load(now)
            key = self._keyset.get(kid)
            if key is None and now - self._refetched_at >= REFETCH_INTERVAL:
                self._refetched_at = now
                self._load(now)
                key = self._keyset.get(kid)
            if key is None and self._failure is not None:
                raise self._failure
            return key

    def _load(self, now: float) -> None:
        """Call the loader; on failure keep unexpired keys (retry after REFETCH_INTERVAL), else raise."""
        try:
            self._keyset = self._loader()
            self._loaded_at = self._good_at = now
            self._failure = None
        except LakeError as err:
            self._loaded_at = now - KEY_REFRESH_SECONDS + REFETCH_INTERVAL
            self._refetched_at = now
            self._failure = err
            if now - self._good_at >= KEY_EXPIRY_SECONDS:
                self._keyset = KeySet()
                raise
            log.warning("keeping cached keys, reload failed: %s", err)


@dataclass(frozen=True)
class TokenClaims:
    """The validated claims Lake uses; `raw` keeps every claim, read-only, for auditing."""

    sub: str
    iss: str
    aud: tuple[str, ...]
    scopes: tuple[str, ...]
    groups: tuple[str, ...]
    exp: int
    iat: int
    jti: str
    raw: Mapping[str, Any] = field(compare=False, repr=False)

    def has_scope(self, name: str) -> bool:
        return name in self.scopes


class _ClaimsCache:
    """A small thread-safe LRU of validated tokens; a hit is re-checked for expiry and for age."""

    def __init__(self, size: int, exp_leeway: float) -> None:
        self._size = size
        self._exp_leeway = exp_leeway
        self._entries: OrderedDict[str, tuple[TokenClaims, float]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, token: str, now: float) -> TokenClaims | None:
        with self._lock:
            entry = self._entries.get(token)
            if entry is None:
                return None
            claims, stored_at = entry
            expired = now >= claims.exp + self._exp_leeway
            if expired or now - stored_at >= KEY_REFRESH_SECONDS:
                del self._entries[token]
                if expired:
                    raise InvalidToken("token expired")
                return None
            self._entries.move_to_end(token)
            return claims

    def put(self, token: str, claims: TokenClaims, now: float) -> None:
        if self._size <= 0:
            return
        with self._lock:
            self._entries[token] = (claims, now)
            self._entries.move_to_end(token)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)


def _unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Parse header and payload without verifying: used only to route to the issuer and key."""
    try:
        parts = _JWS.decode_complete(token, options={"verify_signature": False})
        payload = json.loads(parts["payload"])
    except (PyJWTError, ValueError, RecursionError) as err:
        raise InvalidToken(f"malformed token: {err}") from None
    if not isinstance(payload, dict):
        raise InvalidToken("malformed token: payload is not a JSON object")
    return parts["header"], payload


def _verified_payload(token: str, key: VerificationKey, header: Mapping[str, Any]) -> dict[str, Any]:
    """Check the signature with the key's pinned algorithm and return the signed claims."""
    if header.get("alg") != key.algorithm:
        raise InvalidToken(f"algorithm {quote_claim(header.get('alg'))} not allowed for key {key.kid!r}")
    try:
        payload = json.loads(_JWS.decode(token, key.key, algorithms=[key.algorithm]))
    except (PyJWTError, ValueError) as err:
        raise InvalidToken(f"bad signature: {err}") from None
    if not isinstance(payload, dict):
        raise InvalidToken("malformed token: payload is not a JSON object")
    return payload


def _number(claims: Mapping[str, Any], name: str) -> float | None:
    """A NumericDate claim as a float, None if absent; anything else (bool, NaN, text) is rejected."""
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidToken(f"claim {name!r} is not a number")
    return float(value)


def _text(claims: Mapping[str, Any], name: str, max_len: int = 1024) -> str:
    """A required non-empty string claim."""
    value = claims.get(name)
    if not isinstance(value, str) or not value or len(value) > max_len:
        raise InvalidToken(f"token has no valid {name!r} claim")
    return value


def _check_profile(claims: Mapping[str, Any]) -> None:
    """WLCG profile: `wlcg.ver` of a known major (newer minors accepted), `jti` and `sub` present."""
    ver = claims.get("wlcg.ver")
    match = _VERSION.fullmatch(ver) if isinstance(ver, str) else None
    if match is None:
        raise InvalidToken("token has no valid 'wlcg.ver' claim")
    if int(match.group(1)) != SUPPORTED_MAJOR:
        raise InvalidToken(f"unsupported WLCG profile version {quote_claim(ver)}")
    _text(claims, "jti")
    _text(claims, "sub", max_len=255)


def _string_tuple(claims: Mapping[str, Any], name: str, *, split: bool) -> tuple[str, ...]:
    """An optional claim as a tuple of strings: `scope` is space-separated, `wlcg.groups` a JSON array."""
    value = claims.get(name)
    if value is None:
        return ()
    if split and isinstance(value, str):
        return tuple(value.split())
    if not split and isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise InvalidToken(f"claim {name!r} has the wrong type")


class TokenValidator:
    """Validates bearer tokens from allow-listed issuers for this service's audiences (strict, cached)."""

    def __init__(
        self,
        trusted: Mapping[str, KeySource],
        audiences: Sequence[str],
        leeway: int = 60,
        max_size: int = MAX_TOKEN_SIZE,
        accept_any_audience: bool = False,
        *,
        issuer_audiences: Mapping[str, Sequence[str]] | None = None,
        cache_size: int = 1024,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if ANY_AUDIENCE in audiences:
            raise ValueError("enable the any-audience with accept_any_audience, not in the audience list")
        if not audiences and not accept_any_audience:
            raise ValueError("a validator needs at least one audience")
        self._issuers: dict[str, KeySet | _LoadedKeys] = {
            iss: source if isinstance(source, KeySet) else _LoadedKeys(source, clock) for iss, source in trusted.items()
        }
        self._audiences = frozenset(audiences) | ({ANY_AUDIENCE} if accept_any_audience else frozenset())
        self._issuer_audiences = {iss: frozenset(auds) for iss, auds in (issuer_audiences or {}).items()}
        self._leeway = leeway
        self._exp_leeway = min(leeway, EXP_LEEWAY)
        self._max_size = max_size
        self._clock = clock
        self._cache = _ClaimsCache(cache_size, self._exp_leeway)

    def validate(self, token: str) -> TokenClaims:
        """Return the claims of a valid token, or raise InvalidToken saying why."""
        if not isinstance(token, str) or not token:
            raise InvalidToken("no token")
        if len(token) > self._max_size:
            raise InvalidToken(f"token longer than {self._max_size} characters")
        now = self._clock()
        claims = self._cache.get(token, now)
        if claims is None:
            claims = self._validate_uncached(token, now)
            self._cache.put(token, claims, now)
        return claims

    def _validate_uncached(self, token: str, now: float) -> TokenClaims:
        header, unverified = _unverified(token)
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise InvalidToken("token header has no 'kid'")
        iss = unverified.get("iss")
        if not isinstance(iss, str) or iss not in self._issuers:
            raise InvalidToken(f"issuer {quote_claim(iss)} is not trusted")
        key = self._issuers[iss].get(kid)
        if key is None:
            raise InvalidToken(f"unknown key id {quote_claim(kid)} for issuer {iss!r}")
        claims = _verified_payload(token, key, header)
        self._check_times(claims, now)
        audiences = self._check_audience(claims, self._issuer_audiences.get(iss, self._audiences))
        _check_profile(claims)
        return TokenClaims(
            sub=claims["sub"],
            iss=iss,
            aud=audiences,
            scopes=_string_tuple(claims, "scope", split=True),
            groups=_string_tuple(claims, "wlcg.groups", split=False),
            exp=int(claims["exp"]),
            iat=int(claims["iat"]),
            jti=claims["jti"],
            raw=MappingProxyType(claims),
        )

    def _check_times(self, claims: Mapping[str, Any], now: float) -> None:
        """`exp` and `iat` required; leeway on `nbf`/`iat` for clock skew, only a little on `exp`."""
        exp, iat, nbf = _number(claims, "exp"), _number(claims, "iat"), _number(claims, "nbf")
        if exp is None or iat is None:
            raise InvalidToken("token must carry 'exp' and 'iat'")
        if now >= exp + self._exp_leeway:
            raise InvalidToken("token expired")
        if nbf is not None and nbf > now + self._leeway:
            raise InvalidToken("token not valid yet ('nbf' in the future)")
        if iat > now + self._leeway:
            raise InvalidToken("token issued in the future ('iat')")

    @staticmethod
    def _check_audience(claims: Mapping[str, Any], accepted: frozenset[str]) -> tuple[str, ...]:
        """`aud` required (string or list); exact, case-sensitive match against the issuer's accepted audiences."""
        aud = claims.get("aud")
        audiences = (aud,) if isinstance(aud, str) else tuple(aud) if isinstance(aud, list) else ()
        if not audiences or not all(isinstance(a, str) and a for a in audiences):
            raise InvalidToken("token has no valid 'aud' claim")
        if accepted.isdisjoint(audiences):
            raise InvalidToken(f"token is not meant for this service (aud {quote_claim(aud)})")
        return audiences
