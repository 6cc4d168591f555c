"""The HTTP backend against the built-in endpoint passes the storage conformance suite."""

import uuid
from collections.abc import Iterator

import pytest

from lake.core.settings import EndpointSettings
from lake.storage import StorageBackend, get_backend
from lake.testing.conformance import StorageConformance


@pytest.fixture(scope="module")
def module_backend(endpoint: EndpointSettings, mint) -> Iterator[StorageBackend]:
    token = mint("storage.read:/", "storage.modify:/", audience=endpoint.origin())
    with get_backend(endpoint.origin(), token=token) as backend:
        yield backend


@pytest.fixture
def backend(module_backend: StorageBackend) -> StorageBackend:
    return module_backend


@pytest.fixture
def base_url(endpoint: EndpointSettings, module_backend: StorageBackend) -> str:
    url = f"{endpoint.origin()}/conformance/{uuid.uuid4().hex}"
    module_backend.mkdir(url)
    return url


class TestEndpointConformance(StorageConformance):
    pass
