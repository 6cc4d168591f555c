"""Lake-native read-through cache: an ASGI app in front of one origin endpoint (the XCache role, over HTTP).

GET/HEAD (with Range) need storage.read on the path, checked like the endpoint does. A hit is served from
the local directory. A miss starts one background fill from the origin, forwarding the client's token (so
the token must name both the cache and the origin as audience); a plain GET is sent while the file fills
(following the temporary file), concurrent readers of the same path join that fill, and a Range, HEAD or
Want-Digest request waits for it to complete. A client that disconnects does not stop the fill, so the
next reader gets a hit. The directory is kept under `max_bytes` by evicting the least recently used files;
temporary files of fills a killed cache left are swept like the endpoint's (lake.endpoint.sweep).
`GET /.well-known/lake-cache` returns the counters.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os

import orjson
import uvicorn

from lake.core.errors import LakeError, StorageError
from lake.core.scopes import StorageOp
from lake.core.settings import CacheSettings, EndpointSettings
from lake.core.tokens import KeySource
from lake.endpoint import objects
from lake.endpoint.app import MethodNotSupported
from lake.endpoint.asgi import ClientGone, Headers, Receive, Request, Scope, Send
from lake.endpoint.auth import Authorizer
from lake.endpoint.cache_store import LRU, CacheStats, Fill, OriginFile
from lake.endpoint.context import Context, SourceClient
from lake.endpoint.store import Store, Target
from lake.endpoint.sweep import TempSweep

log = logging.getLogger(__name__)

STATS_PATH = "/.well-known/lake-cache"


class CacheApp:
    """ASGI entry point of one cache; `stats` is readable in-process too (benchmarks, tests)."""

    def __init__(self, settings: CacheSettings, context: Context) -> None:
        self.origin_url = settings.origin_url.rstrip("/")
        self.context = context
        self.lru = LRU(context.store.root, settings.max_bytes)
        self.sweep = TempSweep(context.store.root, settings.stale_upload_seconds, settings.temp_sweep_seconds)
        self.stats = CacheStats()
        self._fills: dict[str, Fill] = {}
        self._tasks: set[asyncio.Task[None]] = set()

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
        _claims, target = self.context.authorize(request, StorageOp.READ)
        try:
            if target.fs_path.is_file():
                self.stats.hits += 1
                self.lru.touch(target.fs_path)
            else:
                fill, origin = await self._join_or_start(target, request.header("authorization"))
                if _streams(request, fill, origin):
                    await send_while_filling(request, fill, origin)
                    return
                await fill.done()
            await objects.get(self.context, request)
        finally:
            self.stats.evictions += self.lru.trim()
            self._count_files()

    async def _join_or_start(self, target: Target, authorization: str | None) -> tuple[Fill, OriginFile]:
        """The fill of this path: one in progress (a hit: the origin is read once) or a new one (a miss)."""
        while True:
            fill = self._fills.get(target.url_path)
            joined = fill is not None
            if fill is None:
                fill = self._start(target, authorization)
            try:
                origin = await fill.opened()
            except LakeError:
                if joined:  # the origin refused the first reader's token: this reader tries with its own
                    continue
                raise
            if joined:
                self.stats.hits += 1
            else:
                self.stats.misses += 1
            return fill, origin

    def _start(self, target: Target, authorization: str | None) -> Fill:
        """Fill in the background: it goes on to the end even if every reader disconnects."""
        fill = Fill(target.fs_path)
        self._fills[target.url_path] = fill
        task = asyncio.create_task(self._run(target.url_path, fill, authorization))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return fill

    async def _run(self, url_path: str, fill: Fill, authorization: str | None) -> None:
        await fill.run(self.context.sources.get(), self.origin_url + url_path, authorization)
        # no await since run() woke the readers: they see the bookkeeping below done
        del self._fills[url_path]
        self.stats.bytes_from_origin += fill.received
        if fill.error is None:
            self.lru.add(fill.final, fill.written)
            self.stats.evictions += self.lru.trim(keep=fill.final)
            self._count_files()

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
                self.sweep.start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.sweep.stop()
                for task in list(self._tasks):
                    task.cancel()
                await asyncio.gather(*self._tasks, return_exceptions=True)
                await self.context.sources.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return


def _streams(request: Request, fill: Fill, origin: OriginFile) -> bool:
    """A plain GET of the whole file, of announced size, is sent while it fills; anything else waits for it."""
    plain = request.method == "GET" and request.header("range") is None and request.header("want-digest") is None
    return plain and not fill.finished and bool(origin.size)


async def send_while_filling(request: Request, fill: Fill, origin: OriginFile) -> None:
    """Send the file as its blocks reach the disk. The last bytes go out only once the fill is complete and
    checked; a failed fill cuts the body (the error is raised after the headers, so the connection closes)."""
    size = origin.size or 0
    fd = os.open(fill.temp, os.O_RDONLY | os.O_CLOEXEC)  # exists: the fill has not finished (no await since)
    gone = asyncio.create_task(_until_disconnect(request))
    try:
        await request.start(200, _headers(origin, size))
        offset = 0
        while offset < size:
            await fill.wait(offset)
            end = min(fill.written, offset + objects.READ_CHUNK)
            if end >= size or fill.error is not None:
                await fill.done()
            if gone.done():  # the client left; the fill goes on without it
                return
            data = os.pread(fd, end - offset, offset)
            offset += len(data)
            await request.body(data, more=offset < size)
    finally:
        gone.cancel()
        os.close(fd)


def _headers(origin: OriginFile, size: int) -> Headers:
    headers: Headers = [
        (b"content-type", b"application/octet-stream"),
        (b"accept-ranges", b"bytes"),
        (b"content-length", str(size).encode()),
    ]
    if origin.last_modified:
        headers.append((b"last-modified", origin.last_modified.encode("latin-1")))
    return headers


async def _until_disconnect(request: Request) -> None:
    with contextlib.suppress(ClientGone):
        while True:
            await request.receive_chunk()


async def _report(request: Request, exc: LakeError) -> None:
    if request.started:
        raise exc
    await request.error(exc)


def endpoint_view(settings: CacheSettings) -> EndpointSettings:
    """The cache seen as an endpoint: its directory, address and token trust (for the shared Authorizer)."""
    return EndpointSettings(
        root=settings.root,
        host=settings.host,
        port=settings.port,
        audience=settings.audience,
        issuer=settings.issuer,
        jwks_url=settings.jwks_url,
    )


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
        app,
        host=settings.host,
        port=settings.port,
        log_level="warning",
        access_log=False,
        lifespan="on",
        timeout_keep_alive=30,
    )
