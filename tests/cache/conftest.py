"""Fixtures for cache tests: a trusted key store and a real endpoint as origin that counts the bytes it sends."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from cache_helpers import CountingOrigin, Minter, Origin

from lake.core.settings import EndpointSettings
from lake.endpoint import create_app
from lake.logic.auth.keystore import KeyStore
from lake.testing.endpoint import TEST_ISSUER, free_port


@pytest.fixture(scope="session")
def keystore(tmp_path_factory: pytest.TempPathFactory) -> KeyStore:
    return KeyStore.load_or_create(tmp_path_factory.mktemp("keys"))


@pytest.fixture
def mint(keystore: KeyStore) -> Minter:
    """mint(scopes..., audience=<url or list>) -> a token from the trusted test issuer."""

    def mint_token(*scopes: str, audience: str | list[str]) -> str:
        return keystore.mint(TEST_ISSUER, "tester", audience, list(scopes), 600)

    return mint_token


@pytest.fixture
def origin(keystore: KeyStore, tmp_path: Path) -> Iterator[Origin]:
    """A built-in endpoint over tmp_path/origin, served with a byte counter in front of it."""
    settings = EndpointSettings(root=tmp_path / "origin", host="127.0.0.1", port=free_port(), issuer=TEST_ISSUER)
    counter = CountingOrigin(create_app(settings, keystore.keyset()))
    server = uvicorn.Server(
        uvicorn.Config(counter, host=settings.host, port=settings.port, log_level="warning", lifespan="off")  # type: ignore[arg-type]
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "origin did not start"
        time.sleep(0.01)
    yield Origin(settings, counter)
    server.should_exit = True
    thread.join(timeout=10)
