"""Run built-in storage endpoints in-process (uvicorn in a thread, free loopback port) for tests."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import uvicorn

from lake.core.settings import EndpointSettings
from lake.core.tokens import KeySource
from lake.endpoint.server import uvicorn_config

TEST_ISSUER = "https://issuer.lake.test"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def running_endpoint(
    root: Path, keys: KeySource | None, issuer: str = TEST_ISSUER, **settings: object
) -> Iterator[EndpointSettings]:
    """Serve `root` on 127.0.0.1 until the block ends; yields the settings (`.origin()` is the URL)."""
    config = EndpointSettings(root=root, host="127.0.0.1", port=free_port(), issuer=issuer, **settings)  # type: ignore[arg-type]
    server = uvicorn.Server(uvicorn_config(config, keys))
    thread = threading.Thread(target=server.run, name=f"endpoint-{config.port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            server.should_exit = True
            raise RuntimeError("the endpoint did not start")
        time.sleep(0.01)
    try:
        yield config
    finally:
        server.should_exit = True
        thread.join(timeout=10)
