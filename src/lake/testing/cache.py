"""Run a Lake-native read-through cache in-process (uvicorn in a thread, free loopback port)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from lake.core.settings import CacheSettings
from lake.core.tokens import KeySource
from lake.endpoint.cache import CacheApp, cache_uvicorn_config, create_cache_app
from lake.testing.endpoint import TEST_ISSUER, free_port


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
    server = uvicorn.Server(cache_uvicorn_config(app, settings))
    thread = threading.Thread(target=server.run, name=f"cache-{settings.port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            server.should_exit = True
            raise RuntimeError("the cache did not start")
        time.sleep(0.01)
    try:
        yield RunningCache(settings, app)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
