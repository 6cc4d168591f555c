"""The read-through cache's directory: LRU bookkeeping by total size, counters, and filling from the origin.

Files are kept under the same URL path as on the origin. A miss streams the origin's answer into a hidden
temporary file (readers may follow it while it grows) and publishes it with one rename once its size and
adler32 are checked, so the cached name never shows half a file.
"""

from __future__ import annotations

import asyncio
import os
import zlib
from collections import OrderedDict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson

from lake.core.checksums import format_adler32
from lake.core.errors import ChecksumMismatch, LakeError, StorageError, Unavailable, error_from_dict
from lake.storage import localfs, webdav

BLOCK = 1024 * 1024  # bytes per write: what a reader following a fill may lag behind the origin
IOV_SLICE = 512  # chunks per writev (below IOV_MAX)


@dataclass
class CacheStats:
    """What the cache did since it started (bytes_from_origin is what misses cost the origin)."""

    hits: int = 0
    misses: int = 0
    bytes_from_origin: int = 0
    evictions: int = 0
    files: int = 0
    bytes: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class LRU:
    """Cached files by last use; `trim` removes the least recently used ones until the total fits."""

    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root = root
        self.max_bytes = max_bytes
        self.entries: OrderedDict[Path, int] = OrderedDict()
        self.total = 0
        for path, size, _atime in sorted(_existing(root), key=lambda item: item[2]):
            self.entries[path] = size
            self.total += size

    def touch(self, path: Path) -> None:
        if path in self.entries:
            self.entries.move_to_end(path)
        else:
            self.add(path, path.stat().st_size)

    def add(self, path: Path, size: int) -> None:
        self.total += size - self.entries.pop(path, 0)
        self.entries[path] = size

    def trim(self, keep: Path | None = None) -> int:
        """Evict least recently used files (never `keep`) until the total is within the limit."""
        evicted = 0
        for path in list(self.entries):
            if self.total <= self.max_bytes:
                break
            if path == keep:
                continue
            self.total -= self.entries.pop(path)
            path.unlink(missing_ok=True)
            evicted += 1
        return evicted


def _existing(root: Path) -> list[tuple[Path, int, float]]:
    """Cached files found at start-up (temporary files of interrupted fills are left to the sweep)."""
    found = []
    for directory, _dirs, names in os.walk(root):
        for name in names:
            path = Path(directory) / name
            if localfs.is_internal(name):
                continue
            info = path.stat()
            found.append((path, info.st_size, info.st_atime))
    return found


async def origin_error(response: httpx.Response) -> LakeError:
    """The origin's Lake error (401/403/404 keep their meaning for the client), else a StorageError."""
    body = await response.aread()
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        data = None
    if isinstance(data, dict) and "code" in data:
        return error_from_dict(data, response.status_code)
    return StorageError(f"origin answered {response.status_code}")


@dataclass(frozen=True)
class OriginFile:
    """What the origin said before the body: the size (Content-Length), Last-Modified and adler32 if known."""

    size: int | None
    last_modified: str | None
    adler32: str | None

    @classmethod
    def of(cls, headers: httpx.Headers) -> OriginFile:
        length = headers.get("content-length")
        digest = webdav.parse_digest(headers.get("digest", ""), "adler32")
        return cls(int(length) if length and length.isdigit() else None, headers.get("last-modified"), digest)


class Fill:
    """One file copied from the origin into a hidden temporary file, renamed into place once complete.

    Readers follow the temporary file while it grows: `written` bytes of it are on disk. Blocks of `BLOCK`
    bytes go to a worker thread (adler32 and writev there, one block in flight while the next arrives).
    `run` never raises: a failure is kept in `error`, the temporary file removed and nothing published.
    """

    def __init__(self, final: Path) -> None:
        self.final = final
        self.temp = localfs.temp_path(final)
        self.origin: OriginFile | None = None
        self.received = 0
        self.written = 0
        self.finished = False
        self.error: LakeError | None = None
        self._adler = 1
        self._changed = asyncio.Event()

    async def run(self, client: httpx.AsyncClient, url: str, authorization: str | None) -> None:
        published = False
        try:
            await self._copy(client, url, authorization)
            published = True
        except LakeError as exc:
            self.error = exc
        except httpx.HTTPError as exc:
            self.error = Unavailable(f"cannot read the origin {url}: {exc}")
        except OSError as exc:
            self.error = localfs.os_error(exc, self.final.name)
        finally:
            if not published and self.error is None:
                self.error = Unavailable("the fill was interrupted")
            localfs.discard(self.temp)
            self.finished = True
            self._notify()

    async def opened(self) -> OriginFile:
        """Wait until the origin answered with the file (the temporary file exists then); raise its refusal."""
        while self.origin is None and not self.finished:
            await self._changed.wait()
        if self.origin is None:
            raise self.error or Unavailable("the fill ended before the origin answered")
        return self.origin

    async def wait(self, offset: int) -> None:
        """Wait until more than `offset` bytes are on disk or the fill ended."""
        while self.written <= offset and not self.finished:
            await self._changed.wait()

    async def done(self) -> None:
        """Wait for the end of the fill; raise its error if it failed."""
        while not self.finished:
            await self._changed.wait()
        if self.error is not None:
            raise self.error

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def _copy(self, client: httpx.AsyncClient, url: str, authorization: str | None) -> None:
        headers = {"Want-Digest": "adler32", **({"Authorization": authorization} if authorization else {})}
        self.final.parent.mkdir(parents=True, exist_ok=True)
        async with client.stream("GET", url, headers=headers) as response:
            if response.status_code != 200:
                raise await origin_error(response)
            fd = os.open(self.temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
            try:
                self.origin = OriginFile.of(response.headers)
                self._notify()
                await self._receive(response, fd)
            finally:
                os.close(fd)
        self._publish(self.origin)

    async def _receive(self, response: httpx.Response, fd: int) -> None:
        """Collect the body into blocks; each block is written by a worker thread while the next arrives."""
        loop = asyncio.get_running_loop()
        pending: asyncio.Future[int] = loop.create_future()
        pending.set_result(0)
        chunks: list[bytes] = []
        buffered = 0
        try:
            async for chunk in response.aiter_raw():
                chunks.append(chunk)
                buffered += len(chunk)
                self.received += len(chunk)
                if buffered >= BLOCK:
                    await pending
                    pending = loop.run_in_executor(None, self._write, fd, chunks)
                    pending.add_done_callback(self._wrote)
                    chunks, buffered = [], 0
            await pending
            pending = loop.run_in_executor(None, self._write, fd, chunks)
            pending.add_done_callback(self._wrote)
        finally:
            await asyncio.wait([pending])  # the fd stays open until the worker is done with it
        pending.result()

    def _write(self, fd: int, chunks: list[bytes]) -> int:
        """Worker thread: checksum and write one block (writev in slices the kernel accepts)."""
        for chunk in chunks:
            self._adler = zlib.adler32(chunk, self._adler)
        for start in range(0, len(chunks), IOV_SLICE):
            part = chunks[start : start + IOV_SLICE]
            written = os.writev(fd, part)
            if written == sum(len(chunk) for chunk in part):
                continue
            rest = memoryview(b"".join(part))[written:]  # a short write (rare on files): the rest the simple way
            while rest:
                rest = rest[os.write(fd, rest) :]
        return sum(len(chunk) for chunk in chunks)

    def _wrote(self, future: asyncio.Future[int]) -> None:
        if not future.cancelled() and future.exception() is None:
            self.written += future.result()
            self._notify()

    def _publish(self, origin: OriginFile) -> None:
        """Check the size (and adler32 if the origin sent it), keep the checksum, rename into place."""
        if origin.size is not None and self.written != origin.size:
            raise Unavailable(f"origin sent {self.written} of {origin.size} bytes")
        adler32 = format_adler32(self._adler)
        if origin.adler32 is not None and adler32 != origin.adler32:
            raise ChecksumMismatch(f"origin data has adler32 {adler32}, the origin said {origin.adler32}")
        localfs.store_checksums(self.temp, {"adler32": adler32})
        os.replace(self.temp, self.final)
