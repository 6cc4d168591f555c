"""The embedded lake's TLS material: a self-signed CA and a host certificate for the built-in https endpoints.

Generated on first start in `<data_dir>/pki/` (`ca.pem`, `ca.key`, `host.pem`, `host.key`; keys 0600) and
reused across restarts; the host certificate is reissued by the same CA when it nears expiry or does not
cover the host names asked for, so a client that trusts `ca.pem` keeps trusting the lake. The fields follow
what grid clients expect (see grid-stack.md §2): a CA with critical `basicConstraints CA:TRUE` and
`keyUsage keyCertSign, cRLSign`; a host certificate with `subjectAltName` DNS and IP entries, `CA:FALSE`,
`digitalSignature, keyEncipherment` and `serverAuth, clientAuth`.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_LIFETIME = timedelta(days=3650)
HOST_LIFETIME = timedelta(days=397)
RENEW_BEFORE = timedelta(days=30)  # reissue the host certificate when it expires sooner than this
DEFAULT_HOSTS = ("localhost", "127.0.0.1")
KEY_SIZE = 2048


@dataclass(frozen=True)
class TLSFiles:
    """Where the CA certificate, the host certificate and the host key are."""

    ca_cert: Path
    cert: Path
    key: Path


def ensure_pki(directory: Path, hosts: Sequence[str] = DEFAULT_HOSTS) -> TLSFiles:
    """The CA and a host certificate for `hosts` in `directory`, created or renewed only when needed."""
    directory.mkdir(parents=True, exist_ok=True)
    files = TLSFiles(directory / "ca.pem", directory / "host.pem", directory / "host.key")
    ca_cert, ca_key = _load_or_create_ca(files.ca_cert, directory / "ca.key")
    if not (files.key.is_file() and _host_cert_usable(files.cert, ca_cert, hosts)):
        host_key = _new_key()
        host_cert = _host_certificate(host_key, ca_cert, ca_key, hosts)
        _write_key(files.key, host_key)
        files.cert.write_bytes(host_cert.public_bytes(serialization.Encoding.PEM))
    return files


def _load_or_create_ca(cert_path: Path, key_path: Path) -> tuple[x509.Certificate, rsa.RSAPrivateKey]:
    """The saved CA, else a new one (saved): clients told to trust it once keep trusting the lake."""
    if cert_path.is_file() and key_path.is_file():
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError(f"{key_path} is not an RSA private key")
        return x509.load_pem_x509_certificate(cert_path.read_bytes()), key
    key = _new_key()
    cert = _ca_certificate(key)
    _write_key(key_path, key)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert, key


def _new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=KEY_SIZE)


def _write_key(path: Path, key: rsa.RSAPrivateKey) -> None:
    """PEM, unencrypted, created with mode 0600 (never readable by others, not even for a moment)."""
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(pem)


def _ca_certificate(key: rsa.RSAPrivateKey) -> x509.Certificate:
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Lake"),
            x509.NameAttribute(NameOID.COMMON_NAME, "Lake embedded CA"),
        ]
    )
    usage = x509.KeyUsage(
        digital_signature=False,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )
    return (
        _builder(name, name, key.public_key(), CA_LIFETIME)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )


def _host_certificate(
    key: rsa.RSAPrivateKey, ca_cert: x509.Certificate, ca_key: rsa.RSAPrivateKey, hosts: Sequence[str]
) -> x509.Certificate:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])])
    usage = x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=True,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )
    ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return (
        _builder(subject, ca_cert.subject, key.public_key(), HOST_LIFETIME)
        .add_extension(x509.SubjectAlternativeName([_general_name(h) for h in hosts]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
        .sign(ca_key, hashes.SHA256())
    )


def _builder(
    subject: x509.Name, issuer: x509.Name, public_key: rsa.RSAPublicKey, lifetime: timedelta
) -> x509.CertificateBuilder:
    now = datetime.now(UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + lifetime)
    )


def _general_name(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


def _host_cert_usable(path: Path, ca_cert: x509.Certificate, hosts: Sequence[str]) -> bool:
    """Signed by this CA, valid for a while yet, and naming every host."""
    if not path.is_file():
        return False
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    if cert.issuer != ca_cert.subject or cert.not_valid_after_utc - RENEW_BEFORE < datetime.now(UTC):
        return False
    try:
        cert.verify_directly_issued_by(ca_cert)
    except (ValueError, TypeError, InvalidSignature):
        return False
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return all(_general_name(h) in names for h in hosts)
