"""A miss is sent to the client while the cache fills: the origin is held after its first block (a real endpoint
wrapped by `Gate`) to see what the client and the cache directory hold meanwhile."""

from __future__ import annotations

import asyncio
import os
import threading
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import httpx
import pytest
from cache_helpers import Origin

from lake.core.checksums import format_adler32
from lake.endpoint.asgi import Message, Receive, Scope, Send
from lake.logic.auth.keystore import KeyStore
from lake.storage import localfs
from lake.testing import waiting
from lake.testing.cache import RunningCache, running_cache

DATA = os.urandom(10 * 1024 * 1024 + 17)  # the origin endpoint sends it in 4 MiB messages
PATH = "/data/big"


@dataclass
class Gate:
    """The origin app, held after the first body message of each GET until `release` is set; then it goes on,
    or breaks the connection (`fail`). `digest` replaces the Digest header the origin sends."""

    app: Callable[[Scope, Receive, Send], object]
    release: threading.Event = field(default_factory=threading.Event)
    fail: bool = False
    digest: bytes | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        sent_body = False

        async def gated_send(message: Message) -> None:
            nonlocal sent_body
            if message["type"] == "http.response.start" and self.digest is not None:
                headers = [(k, v) for k, v in message["headers"] if k != b"digest"]
                message = {**message, "headers": [*headers, (b"digest", self.digest)]}
            if message["type"] == "http.response.body" and sent_body:
                released = await asyncio.to_thread(self.release.wait, 20)
                if self.fail or not released:
                    raise ConnectionAbortedError("the origin breaks off mid-way (test)")
            sent_body = sent_body or message["type"] == "http.response.body"
            await send(message)

        await self.app(scope, receive, gated_send)  # type: ignore[misc]


@pytest.fixture
def gate(origin: Origin) -> Iterator[Gate]:
    """Hold the running origin: its counting wrapper now calls the endpoint through a Gate."""
    target = origin.root / PATH.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(DATA)
    wrapped = Gate(origin.counter.app)
    origin.counter.app = wrapped
    yield wrapped
    wrapped.release.set()


@pytest.fixture
def cache(origin: Origin, keystore: KeyStore, tmp_path: Path) -> Iterator[RunningCache]:
    with running_cache(tmp_path / "cache", origin.url, keystore.keyset()) as running:
        yield running


@pytest.fixture
def auth(cache: RunningCache, origin: Origin, mint: Callable[..., str]) -> dict[str, str]:
    return {"Authorization": "Bearer " + mint("storage.read:/data", audience=[cache.url, origin.url])}


def cached(cache: RunningCache) -> Path:
    return cache.settings.root / PATH.lstrip("/")


def leftovers(cache: RunningCache) -> list[str]:
    """Temporary files of fills in the cache directory."""
    directory = cached(cache).parent
    return [p.name for p in directory.iterdir() if localfs.is_internal(p.name)] if directory.exists() else []


wait_for = partial(waiting.wait_for, timeout=20)


def test_a_miss_sends_the_first_bytes_before_the_origin_finished_and_is_a_hit_afterwards(cache, origin, gate, auth):
    with httpx.stream("GET", cache.url + PATH, headers=auth, timeout=20) as response:
        assert response.status_code == 200
        assert response.headers["content-length"] == str(len(DATA))
        chunks = response.iter_bytes()
        received = next(chunks)
        assert origin.counter.bytes_sent < len(DATA)  # the origin is held: the cache did not wait for it
        assert not cached(cache).exists()  # nothing published before the file is complete
        gate.release.set()
        received += b"".join(chunks)
    assert received == DATA
    wait_for(cached(cache).exists)
    again = httpx.get(cache.url + PATH, headers={**auth, "Want-Digest": "adler32"}, timeout=20)
    assert again.content == DATA
    assert again.headers["digest"] == f"adler32={format_adler32(zlib.adler32(DATA))}"
    stats = cache.app.stats
    assert (stats.misses, stats.hits, stats.bytes_from_origin) == (1, 1, len(DATA))
    assert origin.counter.gets == 1 and cache.app.lru.total == len(DATA)


def test_a_client_that_disconnects_mid_miss_leaves_the_fill_running_so_the_next_read_hits(cache, origin, gate, auth):
    with httpx.stream("GET", cache.url + PATH, headers=auth, timeout=20) as response:
        next(response.iter_bytes())
    gate.release.set()  # the client is gone; the origin goes on
    wait_for(cached(cache).exists)
    assert cached(cache).read_bytes() == DATA and leftovers(cache) == []
    again = httpx.get(cache.url + PATH, headers=auth, timeout=20)
    assert again.content == DATA
    assert (cache.app.stats.misses, cache.app.stats.hits) == (1, 1)
    assert origin.counter.gets == 1


def test_an_origin_failing_mid_way_cuts_the_client_short_and_stores_nothing(cache, origin, gate, auth):
    gate.fail = True
    received = b""
    with httpx.stream("GET", cache.url + PATH, headers=auth, timeout=20) as response:
        assert response.status_code == 200
        with pytest.raises(httpx.RemoteProtocolError):
            for chunk in response.iter_bytes():
                received += chunk
                gate.release.set()
    assert 0 < len(received) < len(DATA) and DATA.startswith(received)
    assert not cached(cache).exists() and leftovers(cache) == []
    assert cache.app.lru.total == 0
    gate.fail = False
    assert httpx.get(cache.url + PATH, headers=auth, timeout=20).content == DATA  # a new miss, now complete
    assert cache.app.stats.misses == 2 and origin.counter.gets == 2


def test_data_that_does_not_match_the_origin_digest_is_cut_before_its_end_and_not_stored(cache, origin, gate, auth):
    gate.digest = b"adler32=00000001"
    gate.release.set()
    received = b""
    with (
        httpx.stream("GET", cache.url + PATH, headers=auth, timeout=20) as response,
        pytest.raises(httpx.RemoteProtocolError),
    ):
        for chunk in response.iter_bytes():
            received += chunk
    assert len(received) < len(DATA)  # the last block is held until the fill is checked
    assert not cached(cache).exists() and leftovers(cache) == []


def test_two_concurrent_misses_read_the_origin_once(cache, origin, gate, auth):
    with httpx.stream("GET", cache.url + PATH, headers=auth, timeout=20) as first:
        first_chunks = first.iter_bytes()
        from_first = next(first_chunks)
        with httpx.stream("GET", cache.url + PATH, headers=auth, timeout=20) as second:
            second_chunks = second.iter_bytes()
            from_second = next(second_chunks)  # follows the same fill while the origin is still held
            gate.release.set()
            from_second += b"".join(second_chunks)
        from_first += b"".join(first_chunks)
    assert from_first == from_second == DATA
    assert origin.counter.gets == 1
    assert (cache.app.stats.misses, cache.app.stats.hits, cache.app.stats.bytes_from_origin) == (1, 1, len(DATA))


def test_a_range_on_a_miss_is_served_once_the_file_is_filled(cache, origin, gate, auth):
    gate.release.set()
    partial = httpx.get(cache.url + PATH, headers={**auth, "Range": "bytes=5000000-5000009"}, timeout=20)
    assert partial.status_code == 206
    assert partial.content == DATA[5_000_000:5_000_010]
    assert cached(cache).read_bytes() == DATA
    assert (cache.app.stats.misses, origin.counter.gets) == (1, 1)
