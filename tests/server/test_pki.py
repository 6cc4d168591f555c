"""The embedded lake's PKI and its https endpoints: certificate fields, reuse, trust, and how RSEs present them."""

from __future__ import annotations

import ipaddress
import ssl
import stat
from pathlib import Path

import httpx
import pytest
from cryptography import x509

from lake.api.rucio.rses import rucio_pfn, rucio_protocols
from lake.core.settings import ServerSettings
from lake.logic.catalog import rses
from lake.server.embedded import EmbeddedLake
from lake.server.pki import ensure_pki
from lake.testing.server import running_lake


def load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_ca_and_host_certificate_have_the_fields_grid_clients_expect(tmp_path: Path) -> None:
    files = ensure_pki(tmp_path / "pki")
    ca, host = load(files.ca_cert), load(files.cert)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).critical
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert ca.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign
    host.verify_directly_issued_by(ca)
    names = host.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["localhost"]
    assert names.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
    assert not host.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    usages = host.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert x509.oid.ExtendedKeyUsageOID.SERVER_AUTH in usages
    for key in (tmp_path / "pki" / "ca.key", files.key):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600


def test_certificates_are_reused_and_the_ca_survives_a_new_host_name(tmp_path: Path) -> None:
    first = ensure_pki(tmp_path / "pki")
    ca, host = first.ca_cert.read_bytes(), first.cert.read_bytes()
    again = ensure_pki(tmp_path / "pki")
    assert (again.ca_cert.read_bytes(), again.cert.read_bytes()) == (ca, host)
    wider = ensure_pki(tmp_path / "pki", ["localhost", "127.0.0.1", "lake.example.org"])
    assert wider.ca_cert.read_bytes() == ca and wider.cert.read_bytes() != host
    names = load(wider.cert).extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "lake.example.org" in names.get_values_for_type(x509.DNSName)


@pytest.mark.integration
def test_lake_endpoints_serve_https_trusted_through_the_lake_ca(tmp_path: Path) -> None:
    with running_lake(tmp_path, endpoints=1, daemons=False) as lake:
        (_site, http), twin = lake.lake.endpoints[0], lake.lake.https["CERN-DISK"]
        assert twin.root == http.root and twin.origin().startswith("https://127.0.0.1:")
        trust = ssl.create_default_context(cafile=lake.ca_cert)
        trust.verify_flags |= ssl.VERIFY_X509_STRICT  # what Python 3.13 clients check by default
        for host in ("127.0.0.1", "localhost"):  # TLS verified, host name checked; no token: 401
            response = httpx.get(f"https://{host}:{twin.port}/", verify=trust)
            assert response.status_code == 401
        assert httpx.get(f"{http.origin()}/").status_code == 401
        with lake.lake.services.db.transaction() as conn:
            rse = rses.get_rse(conn, "CERN-DISK")
        assert rses.best_protocol(rse, "write").scheme == "http"  # Lake's own clients stay on plain http
        assert rses.best_protocol(rse, "third_party_copy_write").scheme == "http"
        assert [p.scheme for p in rucio_protocols(rse)] == ["https"]
        assert rucio_pfn(rse, f"{http.origin()}/user/alice/ab/cd/f") == f"{twin.origin()}/user/alice/ab/cd/f"
        assert "https://127.0.0.1:" in lake.lake.banner() and str(lake.ca_cert.resolve()) in lake.lake.banner()


def test_turning_tls_off_removes_the_https_protocols(tmp_path: Path) -> None:
    def schemes(tls: bool) -> list[str]:
        settings = ServerSettings(data_dir=tmp_path / "data", endpoint_count=1, endpoint_tls=tls)
        lake = EmbeddedLake.prepare(settings)
        try:
            assert bool(lake.https) == tls and (lake.tls is not None) == tls
            with lake.services.db.transaction() as conn:
                return sorted(p.scheme for p in rses.get_rse(conn, "CERN-DISK").protocols)
        finally:
            lake.services.close()

    assert schemes(True) == ["http", "https"]
    assert schemes(False) == ["http"]
