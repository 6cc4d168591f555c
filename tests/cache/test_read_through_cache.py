"""The Lake-native read-through cache in front of a real endpoint: misses, hits, LRU eviction, tokens, ranges."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest
from cache_helpers import Origin

from lake.logic.auth.keystore import KeyStore
from lake.testing.cache import RunningCache, running_cache

DATA = os.urandom(300_000)


def put_on_origin(origin: Origin, path: str, data: bytes = DATA) -> None:
    target = origin.root / path.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)


def read(cache: RunningCache, path: str, token: str, **headers: str) -> httpx.Response:
    return httpx.get(cache.url + path, headers={"Authorization": f"Bearer {token}", **headers}, timeout=30)


@pytest.fixture
def cache(origin: Origin, keystore: KeyStore, tmp_path: Path):
    with running_cache(tmp_path / "cache", origin.url, keystore.keyset(), max_bytes=700_000) as running:
        yield running


def both(cache: RunningCache, origin: Origin) -> list[str]:
    return [cache.url, origin.url]


def test_miss_then_hit_reads_the_origin_once(cache, origin, mint):
    put_on_origin(origin, "/data/f1")
    token = mint("storage.read:/data", audience=both(cache, origin))
    first = read(cache, "/data/f1", token)
    second = read(cache, "/data/f1", token)
    assert first.status_code == second.status_code == 200
    assert first.content == second.content == DATA
    stats = httpx.get(cache.url + "/.well-known/lake-cache").json()
    assert (stats["misses"], stats["hits"], stats["bytes_from_origin"]) == (1, 1, len(DATA))
    assert origin.counter.gets == 1 and origin.counter.bytes_sent == len(DATA)


def test_range_on_a_hit_is_served_from_the_cache(cache, origin, mint):
    put_on_origin(origin, "/data/f2")
    token = mint("storage.read:/data", audience=both(cache, origin))
    read(cache, "/data/f2", token)
    partial = read(cache, "/data/f2", token, Range="bytes=1000-1999")
    assert partial.status_code == 206
    assert partial.content == DATA[1000:2000]
    assert partial.headers["content-range"] == f"bytes 1000-1999/{len(DATA)}"
    assert origin.counter.gets == 1 and cache.app.stats.hits == 1


def test_lru_evicts_least_recently_used_beyond_the_size_limit(cache, origin, mint):
    token = mint("storage.read:/data", audience=both(cache, origin))
    for name in ("a", "b"):
        put_on_origin(origin, f"/data/{name}")
        read(cache, f"/data/{name}", token)
    read(cache, "/data/a", token)  # a is now more recently used than b
    put_on_origin(origin, "/data/c")
    read(cache, "/data/c", token)  # 900 kB > 700 kB: b goes
    root = cache.settings.root
    assert sorted(p.name for p in (root / "data").iterdir()) == ["a", "c"]
    assert cache.app.stats.evictions == 1
    assert cache.app.lru.total == 2 * len(DATA) <= cache.settings.max_bytes
    read(cache, "/data/b", token)
    assert cache.app.stats.misses == 4


def test_token_for_another_path_is_refused_without_touching_the_origin(cache, origin, mint):
    put_on_origin(origin, "/data/f3")
    token = mint("storage.read:/other", audience=both(cache, origin))
    response = read(cache, "/data/f3", token)
    assert response.status_code == 403
    assert response.json()["code"] == "PermissionDenied"
    assert origin.counter.gets == 0
    assert read(cache, "/data/f3", "not-a-token").status_code == 401


def test_token_the_origin_refuses_is_passed_back_and_nothing_is_cached(cache, origin, mint):
    put_on_origin(origin, "/data/f4")
    token = mint("storage.read:/data", audience=cache.url)  # the origin is not an audience
    response = read(cache, "/data/f4", token)
    assert response.status_code == 401
    assert not (cache.settings.root / "data" / "f4").exists()


def test_missing_file_on_origin_is_not_found(cache, origin, mint):
    token = mint("storage.read:/data", audience=both(cache, origin))
    response = read(cache, "/data/nothing", token)
    assert response.status_code == 404
    assert cache.app.stats.misses == 0


def test_a_restarted_cache_serves_what_it_kept_as_hits(origin, keystore, tmp_path, mint):
    put_on_origin(origin, "/data/kept")
    with running_cache(tmp_path / "cache", origin.url, keystore.keyset()) as first:
        read(first, "/data/kept", mint("storage.read:/data", audience=both(first, origin)))
    with running_cache(tmp_path / "cache", origin.url, keystore.keyset()) as second:
        response = read(second, "/data/kept", mint("storage.read:/data", audience=both(second, origin)))
        assert response.content == DATA
        assert (second.app.stats.hits, second.app.stats.misses) == (1, 0)
        assert second.app.lru.total == len(DATA)
    assert origin.counter.gets == 1
