"""Run built-in storage endpoints for tests: in-process (uvicorn in a thread) or as a separate process; send them
a PUT by hand (`start_put`) to cut it short."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import uvicorn

from lake.core.settings import EndpointSettings
from lake.core.tokens import KeySource
from lake.endpoint.server import uvicorn_config
from lake.testing.net import accepts, free_port, serving

TEST_ISSUER = "https://issuer.lake.test"


@contextmanager
def running_endpoint(
    root: Path, keys: KeySource | None, issuer: str = TEST_ISSUER, **settings: object
) -> Iterator[EndpointSettings]:
    """Serve `root` on 127.0.0.1 until the block ends; yields the settings (`.origin()` is the URL)."""
    config = EndpointSettings(root=root, host="127.0.0.1", port=free_port(), issuer=issuer, **settings)  # type: ignore[arg-type]
    with serving(uvicorn.Server(uvicorn_config(config, keys)), f"the endpoint on port {config.port}"):
        yield config


def start_put(origin: str, path: str, token: str, declared: int, body: bytes) -> socket.socket:
    """A PUT to an `http://` endpoint sent by hand: the headers (a Content-Length of `declared` bytes) and `body`,
    which may be less; the socket, to send more, cut it short or read the answer."""
    host, port = origin.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)))
    head = f"PUT {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\nContent-Length: {declared}\r\n\r\n"
    sock.sendall(head.encode() + body)
    return sock


class EndpointProcess:
    """A built-in endpoint run by `lake endpoint` in a process of its own, to be killed and restarted (crash
    tests). Settings go through LAKE_ENDPOINT_* like in production; stderr goes to `<root>.log`."""

    def __init__(self, settings: EndpointSettings) -> None:
        self.settings = settings
        self.process: subprocess.Popen[bytes] | None = None

    def _environment(self) -> dict[str, str]:
        env = {name: value for name, value in os.environ.items() if not name.startswith("LAKE_")}
        for name, value in self.settings.model_dump(exclude_none=True).items():
            env[f"LAKE_ENDPOINT_{name.upper()}"] = str(value)
        return env

    def start(self, timeout: float = 20) -> None:
        """Start it and wait until it accepts connections."""
        log = open(f"{self.settings.root}.log", "ab")  # noqa: SIM115 - the child keeps it
        with log:
            command = [sys.executable, "-c", "from lake.cli.main import app; app()", "endpoint"]
            cwd = self.settings.root.parent
            self.process = subprocess.Popen(command, env=self._environment(), cwd=cwd, stdout=log, stderr=log)
        deadline = time.monotonic() + timeout
        while not accepts(self.settings.port, self.settings.host):
            if time.monotonic() > deadline or self.process.poll() is not None:
                self.kill()
                raise RuntimeError(f"the endpoint process did not start (see {self.settings.root}.log)")
            time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL: no shutdown, no cleanup, like a crash."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()


@contextmanager
def endpoint_process(root: Path, issuer: str, jwks_url: str, **settings: object) -> Iterator[EndpointProcess]:
    """Run `lake endpoint` on `root` (keys from `jwks_url`) on a free loopback port until the block ends."""
    config = EndpointSettings(
        root=root.resolve(),
        host="127.0.0.1",
        port=free_port(),
        issuer=issuer,
        jwks_url=jwks_url,
        **settings,  # type: ignore[arg-type]
    )
    running = EndpointProcess(config)
    running.start()
    try:
        yield running
    finally:
        running.stop()
