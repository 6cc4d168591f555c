"""Lake-native read-through cache: an ASGI app in front of one origin endpoint (the XCache role, over HTTP).

GET/HEAD (with Range) need storage.read on the path, checked like the endpoint does. A hit is served from
the local directory; a miss first copies the file from the origin, forwarding the client's token (so the
token must name both the cache and the origin as audience), then serves it. The directory is kept under
`max_bytes` by evicting the least recently used files. `GET /.well-known/lake-cache` returns the counters.
"""

from __future__ import annotations

import asyncio
import logging

import orjson
import uvicorn

from lake.core.errors import LakeError, StorageError
from lake.core.scopes import StorageOp
from lake.core.settings import CacheSettings, EndpointSettings
from lake.core.tokens import KeySource
from lake.endpoint import transfer
from lake.endpoint.app import MethodNotSupported
from lake.endpoint.asgi import Receive, Request, Scope, Send
from lake.endpoint.auth import Authorizer
from lake.endpoint.cache_store import LRU, CacheStats, fill
from lake.endpoint.context import Context, SourceClient
from lake.endpoint.store import Store, Target

log = logging.getLogger(__name__)

STATS_PATH = "/.well-known/lake-cache"


class CacheApp:
    """ASGI entry point of one cache; `stats` is readable in-process too (benchmarks, tests)."""

    def __init__(self, settings: CacheSettings, context: Context) -> None:
        self.origin_url = settings.origin_url.rstrip("/")
        self.context = context
        self.lru = LRU(context.store.root, settings.max_bytes)
        self.stats = CacheStats()
        self._filling: dict[str, asyncio.Lock] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(Request(scope, receive, send))
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)

    async def _http(self, request: Request) -> None:
        try:
            if request.method == "GET" and request.raw_path == STATS_PATH:
                await self._report_stats(request)
            elif request.method in ("GET", "HEAD"):
                await self._read(request)
            else:
                raise MethodNotSupported(f"{request.method} is not supported by a cache")
        except LakeError as exc:
            await _report(request, exc)
        except OSError as exc:
            log.warning("%s %s failed: %s", request.method, request.raw_path, exc)
            await _report(request, StorageError(f"cache storage failure: {exc.strerror or exc}"))

    async def _read(self, request: Request) -> None:
        claims, target = self.context.authenticate(request)
        Authorizer.require(claims, target.url_path, StorageOp.READ)
        await self._ensure(target, request.header("authorization"))
        try:
            await transfer.get(self.context, request)
        finally:
            self.stats.evictions += self.lru.trim()
            self._count_files()

    async def _ensure(self, target: Target, authorization: str | None) -> None:
        """Make the file present locally: a hit touches it, a miss copies it from the origin (one fill per path)."""
        if target.fs_path.is_file():
            self.stats.hits += 1
            self.lru.touch(target.fs_path)
            return
        lock = self._filling.setdefault(target.url_path, asyncio.Lock())
        async with lock:
            if target.fs_path.is_file():  # filled by a concurrent request meanwhile
                self.stats.hits += 1
                self.lru.touch(target.fs_path)
                return
            size = await fill(self.context.sources.get(), self.origin_url + target.url_path, authorization,
                              target.fs_path)  # fmt: skip
            self.stats.misses += 1
            self.stats.bytes_from_origin += size
            self.lru.add(target.fs_path, size)
            self.stats.evictions += self.lru.trim(keep=target.fs_path)
        self._filling.pop(target.url_path, None)

    def _count_files(self) -> None:
        self.stats.files, self.stats.bytes = len(self.lru.entries), self.lru.total

    async def _report_stats(self, request: Request) -> None:
        self._count_files()
        body = orjson.dumps({**self.stats.to_dict(), "max_bytes": self.lru.max_bytes, "origin": self.origin_url})
        await request.respond(200, body, [(b"content-type", b"application/json")])

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.context.sources.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return


async def _report(request: Request, exc: LakeError) -> None:
    if request.started:
        raise exc
    await request.error(exc)


def endpoint_view(settings: CacheSettings) -> EndpointSettings:
    """The cache seen as an endpoint: its directory, address and token trust (for the shared Authorizer)."""
    return EndpointSettings(
        root=settings.root, host=settings.host, port=settings.port, audience=settings.audience,
        issuer=settings.issuer, jwks_url=settings.jwks_url,
    )  # fmt: skip


def create_cache_app(settings: CacheSettings, keys: KeySource | None = None) -> CacheApp:
    """A cache over `settings.root` reading through `settings.origin_url`; tokens checked like the endpoint's."""
    context = Context(
        store=Store(settings.root),
        authorizer=Authorizer.from_settings(endpoint_view(settings), keys),
        sources=SourceClient(verify=settings.verify_tls),
    )
    return CacheApp(settings, context)


def cache_uvicorn_config(app: CacheApp, settings: CacheSettings) -> uvicorn.Config:
    """The uvicorn configuration serving a cache (plain http on its host and port)."""
    return uvicorn.Config(
        app, host=settings.host, port=settings.port, log_level="warning", access_log=False, lifespan="on",
        timeout_keep_alive=30,
    )  # fmt: skip
