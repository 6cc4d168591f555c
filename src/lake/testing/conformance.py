"""The storage conformance suite every backend passes (like fsspec's abstract tests).

Subclass `StorageConformance` in a test module named `Test...` and provide two fixtures:
`backend` (a StorageBackend allowed to read, write, overwrite and delete under `base_url`) and
`base_url` (an existing, empty directory URL, fresh for every test, without trailing slash).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest

from lake.core.checksums import adler32_of_chunks
from lake.core.errors import AlreadyExists, FileNotFoundOnStorage, InvalidInput
from lake.storage.base import ChecksumAlgorithm, StorageBackend

BIG = 5 * 1024 * 1024 + 123


def payload(size: int, seed: int = 0) -> bytes:
    """Deterministic pseudo-random bytes (so failures are reproducible)."""
    block = hashlib.sha256(str(seed).encode()).digest() * 64
    return (block * (size // len(block) + 1))[:size]


def put(backend: StorageBackend, url: str, data: bytes, *, overwrite: bool = False) -> None:
    backend.write(url, [data[i : i + 65536] for i in range(0, len(data), 65536)], len(data), overwrite=overwrite)


def read_all(backend: StorageBackend, url: str, offset: int = 0, length: int | None = None) -> bytes:
    return b"".join(backend.read(url, offset, length))


class StorageConformance:
    """Behaviour every StorageBackend must show; see the module docstring for the fixtures."""

    # stat and exists

    def test_stat_reports_size_of_written_file(self, backend: StorageBackend, base_url: str) -> None:
        put(backend, f"{base_url}/f", b"hello")
        info = backend.stat(f"{base_url}/f")
        assert (info.size, info.is_dir) == (5, False)
        assert info.mtime is not None

    def test_stat_of_directory_says_directory(self, backend: StorageBackend, base_url: str) -> None:
        backend.mkdir(f"{base_url}/d")
        assert backend.stat(f"{base_url}/d").is_dir

    def test_stat_missing_raises_file_not_found(self, backend: StorageBackend, base_url: str) -> None:
        with pytest.raises(FileNotFoundOnStorage):
            backend.stat(f"{base_url}/missing")

    def test_exists(self, backend: StorageBackend, base_url: str) -> None:
        put(backend, f"{base_url}/f", b"x")
        assert backend.exists(f"{base_url}/f")
        assert not backend.exists(f"{base_url}/nope")

    # write and read

    def test_write_returns_size_and_adler32(self, backend: StorageBackend, base_url: str) -> None:
        data = payload(100_000)
        result = backend.write(f"{base_url}/f", iter([data[:7], data[7:]]))
        assert (result.size, result.adler32) == (len(data), adler32_of_chunks([data]))

    def test_read_returns_what_was_written(self, backend: StorageBackend, base_url: str) -> None:
        data = payload(BIG, seed=1)
        put(backend, f"{base_url}/big", data)
        assert read_all(backend, f"{base_url}/big") == data

    def test_read_streams_in_several_chunks(self, backend: StorageBackend, base_url: str) -> None:
        put(backend, f"{base_url}/big", payload(BIG))
        chunks = list(backend.read(f"{base_url}/big"))
        assert len(chunks) > 1 and sum(map(len, chunks)) == BIG

    def test_empty_file(self, backend: StorageBackend, base_url: str) -> None:
        backend.write(f"{base_url}/empty", iter([]), 0)
        assert backend.stat(f"{base_url}/empty").size == 0
        assert read_all(backend, f"{base_url}/empty") == b""
        assert backend.checksum(f"{base_url}/empty") == "00000001"

    @pytest.mark.parametrize(("offset", "length"), [(0, 10), (10, 100), (5000, None), (0, None), (99_990, 100), (0, 0)])
    def test_ranged_read(self, backend: StorageBackend, base_url: str, offset: int, length: int | None) -> None:
        data = payload(100_000, seed=2)
        put(backend, f"{base_url}/f", data)
        end = None if length is None else offset + length
        assert read_all(backend, f"{base_url}/f", offset, length) == data[offset:end]

    def test_read_past_the_end_is_empty(self, backend: StorageBackend, base_url: str) -> None:
        put(backend, f"{base_url}/f", b"0123456789")
        assert read_all(backend, f"{base_url}/f", 10, 5) == b""

    def test_read_missing_raises_file_not_found(self, backend: StorageBackend, base_url: str) -> None:
        with pytest.raises(FileNotFoundOnStorage):
            read_all(backend, f"{base_url}/missing")

    def test_write_creates_missing_parents(self, backend: StorageBackend, base_url: str) -> None:
        put(backend, f"{base_url}/a/b/c/f", b"deep")
        assert backend.stat(f"{base_url}/a/b").is_dir
        assert read_all(backend, f"{base_url}/a/b/c/f") == b"deep"

    def test_name_with_space_round_trips(self, backend: StorageBackend, base_url: str) -> None:
        put(backend, f"{base_url}/a%20dir/with%20space", b"s")
        assert [entry.name for entry in backend.listdir(base_url)] == ["a dir"]
        assert [entry.name for entry in backend.listdir(f"{base_url}/a%20dir")] == ["with space"]
        assert read_all(backend, f"{base_url}/a%20dir/with%20space") == b"s"

    # overwrite and failed writes

    def test_write_refuses_to_overwrite_by_default(self, backend: StorageBackend, base_url: str) -> None:
        put(backend, f"{base_url}/f", b"first")
        with pytest.raises(AlreadyExists):
            put(backend, f"{base_url}/f", b"second")
        assert read_all(backend, f"{base_url}/f") == b"first"

    def test_write_with_overwrite_replaces(self, backend: StorageBackend, base_url: str) -> None:
        put(backend, f"{base_url}/f", b"first")
        put(backend, f"{base_url}/f", b"second!", overwrite=True)
        assert read_all(backend, f"{base_url}/f") == b"second!"
        assert backend.checksum(f"{base_url}/f") == adler32_of_chunks([b"second!"])

    def test_size_mismatch_raises_and_leaves_nothing(self, backend: StorageBackend, base_url: str) -> None:
        for chunks in ([b"12345"], [b"1234567890", b"1"]):
            with pytest.raises(InvalidInput):
                backend.write(f"{base_url}/f", iter(chunks), 10)
        assert backend.listdir(base_url) == []

    def test_failing_source_leaves_nothing(self, backend: StorageBackend, base_url: str) -> None:
        def broken() -> Iterator[bytes]:
            yield payload(300_000)
            raise RuntimeError("source died")

        with pytest.raises(RuntimeError):
            backend.write(f"{base_url}/f", broken())
        assert backend.listdir(base_url) == []

    # listing

    def test_listdir_names_files_and_directories(self, backend: StorageBackend, base_url: str) -> None:
        put(backend, f"{base_url}/one", b"1")
        put(backend, f"{base_url}/two", b"22")
        backend.mkdir(f"{base_url}/sub")
        entries = {entry.name: entry for entry in backend.listdir(base_url)}
        assert sorted(entries) == ["one", "sub", "two"]
        assert (entries["two"].size, entries["two"].is_dir, entries["sub"].is_dir) == (2, False, True)

    def test_listdir_missing_raises_file_not_found(self, backend: StorageBackend, base_url: str) -> None:
        with pytest.raises(FileNotFoundOnStorage):
            backend.listdir(f"{base_url}/missing")

    # delete

    def test_delete_removes_file(self, backend: StorageBackend, base_url: str) -> None:
        put(backend, f"{base_url}/f", b"x")
        backend.delete(f"{base_url}/f")
        assert not backend.exists(f"{base_url}/f")

    def test_delete_removes_empty_directory(self, backend: StorageBackend, base_url: str) -> None:
        backend.mkdir(f"{base_url}/d")
        backend.delete(f"{base_url}/d")
        assert backend.listdir(base_url) == []

    def test_delete_missing_raises_file_not_found(self, backend: StorageBackend, base_url: str) -> None:
        with pytest.raises(FileNotFoundOnStorage):
            backend.delete(f"{base_url}/missing")

    # checksums

    @pytest.mark.parametrize("algorithm", ["adler32", "md5"])
    def test_checksum_matches_core(self, backend: StorageBackend, base_url: str, algorithm: ChecksumAlgorithm) -> None:
        data = payload(BIG, seed=3)
        put(backend, f"{base_url}/f", data)
        expected = adler32_of_chunks([data]) if algorithm == "adler32" else hashlib.md5(data).hexdigest()
        assert backend.checksum(f"{base_url}/f", algorithm) == expected
        assert backend.checksum(f"{base_url}/f", algorithm) == expected  # the cached answer too

    def test_checksum_missing_raises_file_not_found(self, backend: StorageBackend, base_url: str) -> None:
        with pytest.raises(FileNotFoundOnStorage):
            backend.checksum(f"{base_url}/missing")

    # mkdir

    def test_mkdir_creates_parents_and_tolerates_existing(self, backend: StorageBackend, base_url: str) -> None:
        backend.mkdir(f"{base_url}/x/y/z")
        backend.mkdir(f"{base_url}/x/y/z")
        assert backend.stat(f"{base_url}/x/y/z").is_dir

    def test_mkdir_over_a_file_raises(self, backend: StorageBackend, base_url: str) -> None:
        put(backend, f"{base_url}/f", b"x")
        with pytest.raises(AlreadyExists):
            backend.mkdir(f"{base_url}/f")
