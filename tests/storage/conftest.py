"""Shared fixtures for storage tests: an issuer key store and in-process endpoints."""

from collections.abc import Callable, Iterator

import pytest

pytest.register_assert_rewrite("lake.testing.conformance")

from lake.core.settings import EndpointSettings  # noqa: E402
from lake.logic.auth.keystore import KeyStore  # noqa: E402
from lake.testing.endpoint import TEST_ISSUER, running_endpoint  # noqa: E402

Minter = Callable[..., str]


@pytest.fixture(scope="session")
def keystore(tmp_path_factory: pytest.TempPathFactory) -> KeyStore:
    return KeyStore.load_or_create(tmp_path_factory.mktemp("keys"))


@pytest.fixture(scope="module")
def endpoint(keystore: KeyStore, tmp_path_factory: pytest.TempPathFactory) -> Iterator[EndpointSettings]:
    with running_endpoint(tmp_path_factory.mktemp("endpoint"), keystore.keyset()) as settings:
        yield settings


@pytest.fixture(scope="module")
def mint(keystore: KeyStore) -> Minter:
    """mint(scopes..., audience=<origin>) -> a token from the trusted test issuer."""

    def mint_token(*scopes: str, audience: str, issuer: str = TEST_ISSUER, lifetime: int = 600) -> str:
        return keystore.mint(issuer, "tester", audience, list(scopes), lifetime)

    return mint_token
