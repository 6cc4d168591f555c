"""Run a Lake-native read-through cache in-process (uvicorn in a thread, free loopback port)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from lake.core.settings import CacheSettings
from lake.core.tokens import KeySource
from lake.endpoint.cache import CacheApp, cache_uvicorn_config, create_cache_app
from lake.testing.endpoint import TEST_ISSUER
from lake.testing.net import free_port, serving


@dataclass(frozen=True)
class RunningCache:
    """A started cache: its settings (`.origin()` is its URL) and the app (`.stats` are its counters)."""

    settings: CacheSettings
    app: CacheApp

    @property
    def url(self) -> str:
        return self.settings.origin()


@contextmanager
def running_cache(
    root: Path, origin_url: str, keys: KeySource | None, issuer: str = TEST_ISSUER, max_bytes: int = 1024**3
) -> Iterator[RunningCache]:
    """Serve a cache of `origin_url` from `root` on 127.0.0.1 until the block ends."""
    settings = CacheSettings(
        root=root, origin_url=origin_url, max_bytes=max_bytes, host="127.0.0.1", port=free_port(), issuer=issuer
    )
    app = create_cache_app(settings, keys)
    with serving(uvicorn.Server(cache_uvicorn_config(app, settings)), f"the cache on port {settings.port}"):
        yield RunningCache(settings, app)
