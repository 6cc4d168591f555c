"""The issuer's signing keys: private PEM files on disk, published as a JWKS, minting WLCG-profile tokens.

Keys live in one directory as `<alg>-<8 hex>.pem` (mode 0600); the file name is the `kid`. The newest
key (by file modification time) signs; older keys stay published so tokens they signed keep validating
until they expire (tokens.md 1.1: publish before use, keep old keys until their tokens expire).
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.utils import to_base64url_uint

from lake.core.errors import InvalidInput, InvalidToken, LakeError
from lake.core.scopes import check_scope_path
from lake.core.tokens import MAX_TOKEN_SIZE, MIN_RSA_BITS, WLCG_VERSION, KeySet

log = logging.getLogger(__name__)

ALGORITHMS = ("ES256", "RS256")
MAX_LIFETIME = 6 * 3600  # profile: access tokens at most 6 h
NBF_BACKDATE = 60  # profile: nbf backdated ~60 s for clock skew
RESERVED_CLAIMS = frozenset({"iss", "sub", "aud", "exp", "iat", "nbf", "jti", "wlcg.ver", "scope", "wlcg.groups"})
_KEY_FILE = re.compile(r"(es256|rs256)-[0-9a-f]{8}\.pem")
_GROUP = re.compile(r"(/[a-zA-Z0-9][a-zA-Z0-9_.-]*)+")

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


@dataclass(frozen=True)
class SigningKey:
    """One private key, its kid and the algorithm its type pins."""

    kid: str
    algorithm: str
    key: PrivateKey


def _generate(algorithm: str) -> PrivateKey:
    if algorithm == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    return rsa.generate_private_key(public_exponent=65537, key_size=MIN_RSA_BITS)


def _algorithm_of(key: Any, path: Path) -> str:
    """The algorithm a loaded key's type pins (P-256 -> ES256, RSA >= 2048 bits -> RS256)."""
    if isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP256R1):
        return "ES256"
    if isinstance(key, rsa.RSAPrivateKey) and key.key_size >= MIN_RSA_BITS:
        return "RS256"
    raise LakeError(f"{path}: not a P-256 EC or RSA >= {MIN_RSA_BITS} bit private key")


def _load_key(path: Path) -> SigningKey:
    """Read one PEM file; its name (the kid) must agree with the key type."""
    if path.stat().st_mode & 0o077:
        log.warning("signing key %s is readable by group or others; it should be mode 0600", path)
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    algorithm = _algorithm_of(key, path)
    if not path.name.startswith(algorithm.lower() + "-"):
        raise LakeError(f"{path}: file name says {path.name.split('-')[0]} but the key is {algorithm}")
    return SigningKey(path.stem, algorithm, key)  # type: ignore[arg-type]


def _write_key(directory: Path, algorithm: str) -> SigningKey:
    """Create a new key file with mode 0600 (written to a temporary name, then renamed into place)."""
    key = _generate(algorithm)
    kid = f"{algorithm.lower()}-{secrets.token_hex(4)}"
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    temporary = directory / f".{kid}.tmp"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
        handle.flush()
        os.fsync(handle.fileno())
    os.chmod(temporary, 0o600)
    os.replace(temporary, directory / f"{kid}.pem")
    return SigningKey(kid, algorithm, key)


def _public_jwk(signing: SigningKey) -> dict[str, Any]:
    """The public half of a key as a JWK with kid, kty, alg and use=sig."""
    public = signing.key.public_key()
    jwk: dict[str, Any] = {"kid": signing.kid, "alg": signing.algorithm, "use": "sig"}
    if isinstance(public, ec.EllipticCurvePublicKey):
        point = public.public_numbers()
        jwk.update(kty="EC", crv="P-256")
        jwk.update(x=to_base64url_uint(point.x, bit_length=256).decode())
        jwk.update(y=to_base64url_uint(point.y, bit_length=256).decode())
    else:
        modulus = public.public_numbers()
        jwk.update(kty="RSA", n=to_base64url_uint(modulus.n).decode())
        jwk.update(e=to_base64url_uint(modulus.e).decode())
    return jwk


def _checked_scopes(scopes: Sequence[str]) -> str:
    """Space-separated scopes; storage scopes must carry a canonical path (never pathless)."""
    for scope in scopes:
        if not isinstance(scope, str) or scope.split() != [scope]:
            raise InvalidInput(f"cannot issue scope {scope!r}: not a single scope")
        name, sep, path = scope.partition(":")
        if name.startswith("storage."):
            if not sep:
                raise InvalidInput(f"cannot issue pathless storage scope {scope!r}")
            try:
                check_scope_path(path)
            except InvalidToken as err:
                raise InvalidInput(f"cannot issue scope {scope!r}: {err.message}") from None
    return " ".join(scopes)


def _checked_groups(groups: Sequence[str]) -> list[str]:
    """WLCG group names (`/vo/sub`), in order, without duplicates."""
    for group in groups:
        if not isinstance(group, str) or not _GROUP.fullmatch(group):
            raise InvalidInput(f"cannot issue group {group!r}: not a WLCG group path")
    return list(dict.fromkeys(groups))


def _audience_claim(audience: str | Sequence[str]) -> str | list[str]:
    """An explicit audience is mandatory: one string, or a non-empty list of strings."""
    values = [audience] if isinstance(audience, str) else list(audience)
    if not values or not all(isinstance(value, str) and value for value in values):
        raise InvalidInput("a token needs an explicit audience")
    return values[0] if len(values) == 1 else values


class KeyStore:
    """The issuer's private keys in a directory; the newest signs, all are published."""

    def __init__(self, directory: Path, algorithm: str, keys: Sequence[SigningKey]) -> None:
        self.directory = directory
        self.algorithm = algorithm
        self._keys = list(keys)  # oldest first

    @classmethod
    def load_or_create(cls, directory: Path, algorithm: str = "ES256") -> KeyStore:
        """Load every key in `directory`, creating it and a first key of `algorithm` if there is none."""
        if algorithm not in ALGORITHMS:
            raise ValueError(f"signing algorithm must be one of {ALGORITHMS}, not {algorithm!r}")
        directory = Path(directory)
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        paths = [path for path in directory.iterdir() if _KEY_FILE.fullmatch(path.name)]
        paths.sort(key=lambda path: (path.stat().st_mtime_ns, path.name))
        store = cls(directory, algorithm, [_load_key(path) for path in paths])
        if not any(key.algorithm == algorithm for key in store._keys):
            store.rotate()
        return store

    @property
    def current(self) -> SigningKey:
        """The key that signs: the newest of this store's algorithm."""
        return next(key for key in reversed(self._keys) if key.algorithm == self.algorithm)

    def rotate(self) -> str:
        """Add a new signing key (it signs from now on; old keys stay published) and return its kid."""
        signing = _write_key(self.directory, self.algorithm)
        if self._keys:  # keep the newest-by-mtime order on disk even within one clock tick
            newest = (self.directory / f"{self._keys[-1].kid}.pem").stat().st_mtime_ns
            path = self.directory / f"{signing.kid}.pem"
            if path.stat().st_mtime_ns <= newest:
                os.utime(path, ns=(newest + 1, newest + 1))
        self._keys.append(signing)
        return signing.kid

    def jwks(self) -> dict[str, Any]:
        """The public JWKS document for `/.well-known` (newest key first)."""
        return {"keys": [_public_jwk(key) for key in reversed(self._keys)]}

    def keyset(self) -> KeySet:
        """The verification keys, built from the published JWKS exactly as a remote validator would."""
        return KeySet.from_jwks(self.jwks())

    def mint(
        self,
        issuer: str,
        subject: str,
        audience: str | Sequence[str],
        scopes: Sequence[str],
        lifetime: int,
        groups: Sequence[str] = (),
        extra: Mapping[str, Any] | None = None,
    ) -> str:
        """Sign a WLCG-profile access token with the current key (explicit audience, nbf backdated 60 s)."""
        if not 0 < lifetime <= MAX_LIFETIME:
            raise InvalidInput(f"token lifetime must be 1..{MAX_LIFETIME} seconds, not {lifetime}")
        if not issuer or not subject:
            raise InvalidInput("a token needs an issuer and a subject")
        clash = RESERVED_CLAIMS.intersection(extra or {})
        if clash:
            raise InvalidInput(f"extra claims may not override {sorted(clash)}")
        now = int(time.time())
        claims: dict[str, Any] = dict(extra or {})
        claims.update(iss=issuer, sub=subject, aud=_audience_claim(audience))
        claims.update(iat=now, nbf=now - NBF_BACKDATE, exp=now + lifetime, jti=str(uuid.uuid4()))
        claims["wlcg.ver"] = WLCG_VERSION
        if scopes:
            claims["scope"] = _checked_scopes(scopes)
        if groups:
            claims["wlcg.groups"] = _checked_groups(groups)
        signing = self.current
        token = jwt.encode(claims, signing.key, algorithm=signing.algorithm, headers={"kid": signing.kid, "typ": "JWT"})
        if len(token) > MAX_TOKEN_SIZE:
            raise InvalidInput(f"token would be {len(token)} characters, over {MAX_TOKEN_SIZE}: fewer scopes")
        return token
