"""Signing-key files: private PEMs named by their `kid` (mode 0600), and their public halves as JWKs."""

from __future__ import annotations

import logging
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.utils import to_base64url_uint

from lake.core.errors import LakeError
from lake.core.tokens import MIN_RSA_BITS

log = logging.getLogger(__name__)

KEY_FILE = re.compile(r"(es256|rs256)-[0-9a-f]{8}\.pem")

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


def load_key(path: Path) -> SigningKey:
    """Read one PEM file; its name (the kid) must agree with the key type."""
    if path.stat().st_mode & 0o077:
        log.warning("signing key %s is readable by group or others; it should be mode 0600", path)
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    algorithm = _algorithm_of(key, path)
    if not path.name.startswith(algorithm.lower() + "-"):
        raise LakeError(f"{path}: file name says {path.name.split('-')[0]} but the key is {algorithm}")
    return SigningKey(path.stem, algorithm, key)  # type: ignore[arg-type]


def write_private(path: Path, data: bytes) -> None:
    """Write a file with mode 0600 atomically (temporary name, fsync, rename into place)."""
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.chmod(temporary, 0o600)
    os.replace(temporary, path)


def write_key(directory: Path, algorithm: str) -> SigningKey:
    """Create a new key file `<alg>-<8 hex>.pem` with mode 0600."""
    key = _generate(algorithm)
    kid = f"{algorithm.lower()}-{secrets.token_hex(4)}"
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    write_private(directory / f"{kid}.pem", pem)
    return SigningKey(kid, algorithm, key)


def public_jwk(signing: SigningKey) -> dict[str, Any]:
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
