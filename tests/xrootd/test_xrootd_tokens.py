"""A token-protected XRootD (SciTokens plugin trusting Lake's issuer): root:// and https need the right token."""

import uuid
from collections.abc import Callable

import pytest

from lake.core.errors import PermissionDenied
from lake.storage import StorageBackend, get_backend
from lake.testing.conformance import put, read_all
from lake.testing.xrootd import XRootDServer

READ_WRITE = ["storage.read:/", "storage.create:/", "storage.modify:/"]
Backend = Callable[[XRootDServer, str | None], tuple[StorageBackend, str]]
Mint = Callable[..., str]


def root_backend(server: XRootDServer, token: str | None) -> tuple[StorageBackend, str]:
    return get_backend(server.root_url, token=token), f"{server.root_url}/"


def https_backend(server: XRootDServer, token: str | None) -> tuple[StorageBackend, str]:
    return get_backend(server.https_url, token=token, verify=str(server.ca_cert)), server.https_url


@pytest.fixture(params=[root_backend, https_backend], ids=["root", "https"])
def make_backend(request: pytest.FixtureRequest) -> Backend:
    return request.param  # type: ignore[no-any-return]


def test_token_for_the_path_allows_write_read_and_delete(
    xrootd_token_server: XRootDServer, xrootd_mint: Mint, make_backend: Backend
) -> None:
    name = uuid.uuid4().hex
    backend, base = make_backend(xrootd_token_server, xrootd_mint([f"{s}{name}" for s in READ_WRITE]))
    url = f"{base}/{name}/sub/f"
    put(backend, url, b"protected")
    assert read_all(backend, url) == b"protected"
    assert backend.stat(url).size == 9
    assert len(backend.checksum(url)) == 8
    backend.delete(url)
    assert not backend.exists(url)


def test_requests_without_token_are_refused(
    xrootd_token_server: XRootDServer, xrootd_mint: Mint, make_backend: Backend
) -> None:
    owner, base = make_backend(xrootd_token_server, xrootd_mint(READ_WRITE))
    url = f"{base}/open/{uuid.uuid4().hex}"
    put(owner, url, b"x")
    anonymous, _ = make_backend(xrootd_token_server, None)
    with pytest.raises(PermissionDenied):
        read_all(anonymous, url)
    with pytest.raises(PermissionDenied):
        put(anonymous, f"{url}-new", b"x")


def test_token_for_another_path_is_refused(
    xrootd_token_server: XRootDServer, xrootd_mint: Mint, make_backend: Backend
) -> None:
    owner, base = make_backend(xrootd_token_server, xrootd_mint(READ_WRITE))
    url = f"{base}/mine/{uuid.uuid4().hex}"
    put(owner, url, b"x")
    other, _ = make_backend(xrootd_token_server, xrootd_mint(["storage.read:/theirs", "storage.create:/theirs"]))
    with pytest.raises(PermissionDenied):
        read_all(other, url)
    with pytest.raises(PermissionDenied):
        put(other, f"{base}/mine/{uuid.uuid4().hex}", b"x")


def test_token_for_another_audience_is_refused(
    xrootd_token_server: XRootDServer, xrootd_mint: Mint, make_backend: Backend
) -> None:
    owner, base = make_backend(xrootd_token_server, xrootd_mint(READ_WRITE))
    url = f"{base}/aud/{uuid.uuid4().hex}"
    put(owner, url, b"x")
    stranger, _ = make_backend(xrootd_token_server, xrootd_mint(READ_WRITE, "https://elsewhere.test"))
    with pytest.raises(PermissionDenied):
        stranger.stat(url)
