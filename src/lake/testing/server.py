"""A real embedded lake in a background thread, on free loopback ports, for end-to-end tests."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from lake.core.settings import ServerSettings
from lake.server.embedded import EmbeddedLake
from lake.testing.net import free_ports

ROOT_PASSWORD = "root-e2e-password"
USER = "alice"
USER_PASSWORD = "alice-e2e-password"


@dataclass
class RunningLake:
    url: str
    settings: ServerSettings
    lake: EmbeddedLake
    root_password: str = ROOT_PASSWORD
    user: str = USER
    user_password: str = USER_PASSWORD

    @property
    def rses(self) -> list[str]:
        return [site.rse for site, _ in self.lake.endpoints]

    @property
    def ca_cert(self) -> Path:
        """The CA that signed the https endpoints' certificate: what a client trusts to talk https to them."""
        assert self.lake.tls is not None
        return self.lake.tls.ca_cert


def _start(tmp_path: Path, endpoints: int, database_url: str | None, daemons: bool) -> EmbeddedLake | None:
    """One start attempt on fresh free ports; None if a port was taken meanwhile (the server died binding)."""
    ports = free_ports(endpoints + 2)  # the API, the endpoints, then the built-in cache
    tls_ports = free_ports(endpoints, exclude=ports)
    settings = ServerSettings(
        data_dir=tmp_path / "lake-data",
        database_url=database_url,
        port=ports[0],
        endpoint_base_port=ports[1],
        endpoint_tls_port_offset=tls_ports[0] - ports[1],
        endpoint_count=endpoints,
        root_password=ROOT_PASSWORD,
        user_password=USER_PASSWORD,
    )
    lake = EmbeddedLake.prepare(settings)
    lake.daemons = daemons
    lake.build_servers()
    lake_thread = threading.Thread(target=asyncio.run, args=(lake.serve(),), daemon=True)
    lake_thread.start()
    deadline = time.monotonic() + 20
    while not lake.started:
        if time.monotonic() > deadline or not lake_thread.is_alive():
            lake.stop()
            lake_thread.join(timeout=10)
            lake.services.close()
            return None
        time.sleep(0.02)
    _threads[id(lake)] = lake_thread
    return lake


_threads: dict[int, threading.Thread] = {}


@contextmanager
def running_lake(
    tmp_path: Path, endpoints: int = 2, database_url: str | None = None, daemons: bool = True
) -> Iterator[RunningLake]:
    """Start the API, the endpoints over http and https, and the registered daemons in a thread; yields once every
    server accepts connections. Ports are picked free but bound later, so a start that loses a port race is
    retried on new ports."""
    lake = None
    for _ in range(3):
        lake = _start(tmp_path, endpoints, database_url, daemons)
        if lake is not None:
            break
    if lake is None:
        raise RuntimeError("the embedded lake did not start")
    try:
        yield RunningLake(url=lake.settings.resolved_public_url(), settings=lake.settings, lake=lake)
    finally:
        lake.stop()
        _threads.pop(id(lake)).join(timeout=10)
        lake.services.close()
