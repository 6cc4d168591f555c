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
from lake.endpoint.cache import cache_uvicorn_config, create_cache_app
from lake.endpoint.server import uvicorn_config as endpoint_uvicorn_config
from lake.logic.auth.bootstrap import bootstrap_accounts
from lake.logic.services import Services
from lake.server.caches import BuiltinCache, builtin_cache, register_cache
from lake.server.pki import DEFAULT_HOSTS, TLSFiles, ensure_pki
from lake.server.sites import Site, register_distances, register_site, site_list

DAEMON_STOP_TIMEOUT = 10.0  # seconds to wait for a daemon's current iteration when the lake stops
PKI_DIR = "pki"  # under the data directory: the CA and host certificate of the built-in https endpoints


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
    https: dict[str, EndpointSettings] = field(default_factory=dict)  # RSE name -> its https twin
    tls: TLSFiles | None = None
    cache: BuiltinCache | None = None
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
        tls = ensure_pki(settings.data_dir / PKI_DIR, _tls_hosts(settings)) if settings.endpoint_tls else None
        https = _https_settings(settings, endpoints, tls) if tls else {}
        cache = builtin_cache(settings, endpoints)
        with services.db.transaction() as conn:
            bootstrap_accounts(conn, credentials.root_password, credentials.user, credentials.user_password)
            for site, ep in endpoints:
                twin = https.get(site.rse)
                register_site(conn, site, ep.host, ep.port, twin.port if twin else None)
            register_distances(conn, sites)
            if cache:
                register_cache(conn, cache)
        return cls(settings, services, credentials, endpoints, https, tls, cache)

    def build_servers(self) -> list[uvicorn.Server]:
        api = uvicorn.Config(
            create_app(self.services), host=self.settings.host, port=self.settings.port, log_level="warning"
        )
        self.servers = [_Server(api)]
        keys = self.services.keystore.keyset
        for _site, ep in self.endpoints:
            app = create_endpoint_app(ep, keys=keys)
            self.servers.append(_Server(uvicorn.Config(app, host=ep.host, port=ep.port, log_level="warning")))
        self.servers += [_Server(endpoint_uvicorn_config(twin, keys)) for twin in self.https.values()]
        if self.cache:
            self.servers.append(
                _Server(cache_uvicorn_config(create_cache_app(self.cache.settings, keys), self.cache.settings))
            )
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
        lines += [
            f"  {site.rse:<14} {self._origins(site, ep)}  site={site.site} country={site.country} tier={site.tier}"
            for site, ep in self.endpoints
        ]
        if self.cache:
            c = self.cache
            lines.append(f"  {c.rse:<14} {c.settings.origin()}  cache at site={c.site} in front of {c.origin_rse}")
        if self.tls:
            lines.append(f"  https certificates are signed by the CA in {self.tls.ca_cert.resolve()}")
        if self.daemons:
            lines.append(f"Daemons: {', '.join(all_daemons()) or 'none registered'}")
        lines += [
            f"Data directory: {self.settings.data_dir.resolve()} (passwords in credentials.json)",
            f"Log in:  lake login --url {url} --username {self.credentials.user} "
            f"--password {self.credentials.user_password}",
            f"Admin:   lake login --url {url} --username root --password {self.credentials.root_password}",
        ]
        return "\n".join(lines)

    def _origins(self, site: Site, ep: EndpointSettings) -> str:
        twin = self.https.get(site.rse)
        return f"{ep.origin()}  {twin.origin()}" if twin else ep.origin()


def _endpoint_settings(settings: ServerSettings, site: Site, index: int) -> EndpointSettings:
    return EndpointSettings(
        root=settings.data_dir / "storage" / site.rse,
        host=settings.host,
        port=settings.endpoint_base_port + index,
        issuer=settings.issuer,
    )


def _tls_hosts(settings: ServerSettings) -> list[str]:
    """The names the host certificate covers: localhost, 127.0.0.1 and the host the endpoints listen on."""
    return list(dict.fromkeys([*DEFAULT_HOSTS, settings.host]))


def _https_settings(
    settings: ServerSettings, endpoints: list[tuple[Site, EndpointSettings]], tls: TLSFiles
) -> dict[str, EndpointSettings]:
    """Per RSE, its endpoint served over https: same directory and issuer, port + offset, the lake's host cert."""
    return {
        site.rse: ep.model_copy(
            update={"port": ep.port + settings.endpoint_tls_port_offset, "tls_cert": tls.cert, "tls_key": tls.key}
        )
        for site, ep in endpoints
    }


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
