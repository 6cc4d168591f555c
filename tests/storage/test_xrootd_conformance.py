"""The root:// backend and the HTTP backend (over XrdHttp) pass the storage conformance suite on a real XRootD."""

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from lake.storage import StorageBackend, get_backend
from lake.testing.conformance import StorageConformance
from lake.testing.xrootd import XRootDServer, running_xrootd, xrootd_available

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not xrootd_available(), reason="needs the xrootd daemon and the XRootD Python bindings"),
]


@pytest.fixture(scope="module")
def xrootd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[XRootDServer]:
    with running_xrootd(Path(tmp_path_factory.mktemp("xrootd")), "conformance") as server:
        yield server


@pytest.fixture(scope="module")
def root_backend(xrootd: XRootDServer) -> Iterator[StorageBackend]:
    with get_backend(xrootd.root_url) as backend:
        yield backend


@pytest.fixture(scope="module")
def xrdhttp_backend(xrootd: XRootDServer) -> Iterator[StorageBackend]:
    with get_backend(xrootd.https_url, verify=str(xrootd.ca_cert)) as backend:
        yield backend


class TestRootConformance(StorageConformance):
    @pytest.fixture
    def backend(self, root_backend: StorageBackend) -> StorageBackend:
        return root_backend

    @pytest.fixture
    def base_url(self, xrootd: XRootDServer, root_backend: StorageBackend) -> str:
        url = f"{xrootd.root_url}//root/{uuid.uuid4().hex}"
        root_backend.mkdir(url)
        return url


class TestXrdHttpConformance(StorageConformance):
    @pytest.fixture
    def backend(self, xrdhttp_backend: StorageBackend) -> StorageBackend:
        return xrdhttp_backend

    @pytest.fixture
    def base_url(self, xrootd: XRootDServer, xrdhttp_backend: StorageBackend) -> str:
        url = f"{xrootd.https_url}/http/{uuid.uuid4().hex}"
        xrdhttp_backend.mkdir(url)
        return url
