"""`lake up`: the whole lake in one process: the API, built-in storage endpoints and every registered daemon."""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import uvicorn

from lake.api.app import create_app
from lake.core.settings import EndpointSettings, ServerSettings
from lake.daemons.registry import all_daemons
from lake.daemons.runner import join_threads, start_in_threads
from lake.endpoint import create_app as create_endpoint_app
from lake.logic.auth.bootstrap import bootstrap_accounts
from lake.logic.services import Services
from lake.server.sites import Site, register_distances, register_site, site_list

DAEMON_STOP_TIMEOUT = 10.0  # seconds to wait for a daemon's current iteration when the lake stops


class _Server(uvicorn.Server):
    """A uvicorn server that leaves signal handling to the embedded lake (several servers, one loop)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@dataclass
class Credentials:
    root_password: str
    user: str
    user_password: str

    @classmethod
    def load_or_create(cls, settings: ServerSettings) -> Credentials:
        """Passwords from settings, else the ones saved at first start, else new random ones (saved 0600)."""
        path = settings.data_dir / "credentials.json"
        saved = json.loads(path.read_text()) if path.is_file() else {}
        creds = cls(
            root_password=settings.root_password or saved.get("root_password") or secrets.token_urlsafe(12),
            user=settings.user_account,
            user_password=settings.user_password or saved.get("user_password") or secrets.token_urlsafe(12),
        )
        path.write_text(json.dumps({"root_password": creds.root_password, "user_password": creds.user_password}))
        path.chmod(0o600)
        return creds


@dataclass
class EmbeddedLake:
    settings: ServerSettings
    services: Services
    credentials: Credentials
    endpoints: list[tuple[Site, EndpointSettings]]
    servers: list[uvicorn.Server] = field(default_factory=list)
    daemons: bool = True
    daemon_stop: threading.Event = field(default_factory=threading.Event, repr=False)

    @classmethod
    def prepare(cls, settings: ServerSettings) -> EmbeddedLake:
        """Migrate, bootstrap accounts, register the built-in sites; idempotent across restarts."""
        services = Services.from_settings(settings)
        credentials = Credentials.load_or_create(settings)
        sites = site_list(settings.endpoint_count)
        endpoints = [(site, _endpoint_settings(settings, site, i)) for i, site in enumerate(sites)]
        with services.db.transaction() as conn:
            bootstrap_accounts(conn, credentials.root_password, credentials.user, credentials.user_password)
            for site, ep in endpoints:
                register_site(conn, site, ep.host, ep.port)
            register_distances(conn, sites)
        return cls(settings, services, credentials, endpoints)

    def build_servers(self) -> list[uvicorn.Server]:
        api = uvicorn.Config(
            create_app(self.services), host=self.settings.host, port=self.settings.port, log_level="warning"
        )
        self.servers = [_Server(api)]
        for _site, ep in self.endpoints:
            app = create_endpoint_app(ep, keys=self.services.keystore.keyset)
            self.servers.append(_Server(uvicorn.Config(app, host=ep.host, port=ep.port, log_level="warning")))
        return self.servers

    async def serve(self) -> None:
        """Serve until stopped; the daemons run in threads meanwhile and finish their iteration at the end."""
        servers = self.servers or self.build_servers()
        threads = start_in_threads(self.services, all_daemons().values(), self.daemon_stop) if self.daemons else []
        try:
            await asyncio.gather(*(server.serve() for server in servers))
        finally:
            self.daemon_stop.set()
            await asyncio.to_thread(join_threads, threads, DAEMON_STOP_TIMEOUT)

    def stop(self) -> None:
        self.daemon_stop.set()
        for server in self.servers:
            server.should_exit = True

    @property
    def started(self) -> bool:
        return bool(self.servers) and all(server.started for server in self.servers)

    def banner(self) -> str:
        url = self.settings.resolved_public_url()
        lines = [f"Lake is up: API {url} (OpenAPI at {url}/docs)", "Built-in storage endpoints (RSEs):"]
        lines += [f"  {site.rse:<14} {ep.origin()}  site={site.site} country={site.country} tier={site.tier}"
                  for site, ep in self.endpoints]  # fmt: skip
        if self.daemons:
            lines.append(f"Daemons: {', '.join(all_daemons()) or 'none registered'}")
        lines += [
            f"Data directory: {self.settings.data_dir.resolve()} (passwords in credentials.json)",
            f"Log in:  lake login --url {url} --username {self.credentials.user} "
            f"--password {self.credentials.user_password}",
            f"Admin:   lake login --url {url} --username root --password {self.credentials.root_password}",
        ]
        return "\n".join(lines)


def _endpoint_settings(settings: ServerSettings, site: Site, index: int) -> EndpointSettings:
    return EndpointSettings(
        root=settings.data_dir / "storage" / site.rse,
        host=settings.host,
        port=settings.endpoint_base_port + index,
        issuer=settings.issuer,
    )


def run_embedded(settings: ServerSettings) -> None:
    """Run in the foreground until SIGINT/SIGTERM; data persists in settings.data_dir."""
    lake = EmbeddedLake.prepare(settings)
    lake.build_servers()
    print(lake.banner(), flush=True)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, lake.stop)
        await lake.serve()

    try:
        asyncio.run(main())
    finally:
        lake.services.close()


def data_dir_default() -> Path:
    return ServerSettings().data_dir
