"""Real XRootD servers for the tests in this folder (module-scoped; skipped when XRootD is not installed)."""

from collections.abc import Callable, Iterator

import pytest

from lake.logic.auth.keystore import KeyStore
from lake.testing.xrootd import TrustedIssuer, XRootDServer, running_xrootd, xrootd_available

ISSUER = "https://issuer.lake.test"
AUDIENCE = "https://xrootd.lake.test"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    skip = pytest.mark.skip(reason="needs the xrootd daemon and the XRootD Python bindings")
    for item in items:
        if "tests/xrootd/" in str(item.path):
            item.add_marker(pytest.mark.integration)
            if not xrootd_available():
                item.add_marker(skip)


@pytest.fixture(scope="module")
def xrootd_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[XRootDServer]:
    """A plain data server (root://, XrdHttp, root and HTTP TPC, server-side checksums)."""
    with running_xrootd(tmp_path_factory.mktemp("xrootd-a"), "a") as server:
        yield server


@pytest.fixture(scope="module")
def xrootd_server_b(tmp_path_factory: pytest.TempPathFactory) -> Iterator[XRootDServer]:
    """A second data server, e.g. the destination of third-party copies."""
    with running_xrootd(tmp_path_factory.mktemp("xrootd-b"), "b") as server:
        yield server


@pytest.fixture(scope="module")
def xrootd_keystore(tmp_path_factory: pytest.TempPathFactory) -> KeyStore:
    return KeyStore.load_or_create(tmp_path_factory.mktemp("xrootd-keys"))


@pytest.fixture(scope="module")
def xrootd_token_server(tmp_path_factory: pytest.TempPathFactory, xrootd_keystore: KeyStore) -> Iterator[XRootDServer]:
    """A data server that serves only requests with a token from ISSUER for AUDIENCE (base path /)."""
    issuer = TrustedIssuer(issuer=ISSUER, jwks=xrootd_keystore.jwks(), base_path="/", audiences=(AUDIENCE,))
    with running_xrootd(tmp_path_factory.mktemp("xrootd-t"), "t", token_issuer=issuer) as server:
        yield server


@pytest.fixture(scope="module")
def xrootd_mint(xrootd_keystore: KeyStore) -> Callable[..., str]:
    """xrootd_mint(scopes, audience=AUDIENCE) -> a token from the issuer the token server trusts."""

    def mint(scopes: list[str], audience: str = AUDIENCE) -> str:
        return xrootd_keystore.mint(ISSUER, "tester", audience, scopes, 600)

    return mint
