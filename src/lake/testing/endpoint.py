"""Run built-in storage endpoints for tests: in-process (uvicorn in a thread) or as a separate process."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
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
        while not _accepts(self.settings.host, self.settings.port):
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


def _accepts(host: str, port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((host, port)) == 0


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
