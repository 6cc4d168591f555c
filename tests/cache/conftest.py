"""Fixtures for cache tests: a real endpoint as origin, trusting the test issuer (the plugin's `keystore` and
`mint`), that counts the bytes it sends."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from cache_helpers import CountingOrigin, Origin

from lake.core.settings import EndpointSettings
from lake.endpoint import create_app
from lake.logic.auth.keystore import KeyStore
from lake.testing.endpoint import TEST_ISSUER
from lake.testing.net import free_port, serving


@pytest.fixture
def origin(keystore: KeyStore, tmp_path: Path) -> Iterator[Origin]:
    """A built-in endpoint over tmp_path/origin, served with a byte counter in front of it."""
    settings = EndpointSettings(root=tmp_path / "origin", host="127.0.0.1", port=free_port(), issuer=TEST_ISSUER)
    counter = CountingOrigin(create_app(settings, keystore.keyset()))
    server = uvicorn.Server(
        uvicorn.Config(counter, host=settings.host, port=settings.port, log_level="warning", lifespan="off")  # type: ignore[arg-type]
    )
    with serving(server, "origin"):
        yield Origin(settings, counter)
