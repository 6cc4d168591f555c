"""Shared fixtures for storage tests: in-process endpoints trusting the test issuer (the plugin's `keystore`)."""

from collections.abc import Iterator

import pytest

from lake.core.settings import EndpointSettings
from lake.logic.auth.keystore import KeyStore
from lake.testing.endpoint import running_endpoint


@pytest.fixture(scope="module")
def endpoint(keystore: KeyStore, tmp_path_factory: pytest.TempPathFactory) -> Iterator[EndpointSettings]:
    with running_endpoint(tmp_path_factory.mktemp("endpoint"), keystore.keyset()) as settings:
        yield settings
