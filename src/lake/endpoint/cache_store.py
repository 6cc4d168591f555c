"""The read-through cache's directory: LRU bookkeeping by total size, counters, and filling from the origin.

Files are kept under the same URL path as on the origin. A miss streams the origin's answer into a hidden
temporary file and publishes it with one rename, so a reader never sees half a file.
"""

from __future__ import annotations

import asyncio
import os
from collections import OrderedDict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson

from lake.core.errors import LakeError, StorageError, Unavailable, error_from_dict
from lake.storage import localfs

FILL_CHUNK = 1024 * 1024


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
    """Cached files found at start-up (temporary files of an interrupted fill are removed)."""
    found = []
    for directory, _dirs, names in os.walk(root):
        for name in names:
            path = Path(directory) / name
            if localfs.is_internal(name):
                path.unlink(missing_ok=True)
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


async def fill(client: httpx.AsyncClient, url: str, authorization: str | None, final: Path) -> int:
    """Copy `url` from the origin into `final` (temporary file, then rename); returns the bytes read."""
    headers = {"Authorization": authorization} if authorization else {}
    final.parent.mkdir(parents=True, exist_ok=True)
    temp = localfs.temp_path(final)
    received = 0
    try:
        async with client.stream("GET", url, headers=headers) as response:
            if response.status_code != 200:
                raise await origin_error(response)
            expected = response.headers.get("content-length")
            with open(temp, "wb") as out:
                async for chunk in response.aiter_bytes(FILL_CHUNK):
                    await asyncio.to_thread(out.write, chunk)
                    received += len(chunk)
        if expected is not None and int(expected) != received:
            raise Unavailable(f"origin sent {received} of {expected} bytes")
        os.replace(temp, final)
    except httpx.HTTPError as exc:
        raise Unavailable(f"cannot read the origin {url}: {exc}") from exc
    finally:
        temp.unlink(missing_ok=True)
    return received
