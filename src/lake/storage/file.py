"""The file:// backend: a local (or locally mounted) file system."""

from __future__ import annotations

import io
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from urllib.parse import unquote, urlsplit

from lake.core.checksums import CHUNK, Adler32
from lake.core.errors import AlreadyExists, InvalidInput, StorageError
from lake.storage import localfs
from lake.storage.base import ChecksumAlgorithm, StatResult, StorageBackend, WriteResult


def url_to_path(url: str) -> Path:
    """`file:///abs/path` (percent-decoded) to a Path; other hosts than localhost are refused."""
    parts = urlsplit(url)
    if parts.scheme != "file" or parts.netloc not in ("", "localhost"):
        raise InvalidInput(f"not a local file URL: {url}")
    path = unquote(parts.path)
    if not path.startswith("/") or "\0" in path:
        raise InvalidInput(f"file URL needs an absolute path: {url}")
    return Path(path)


def _stat_result(info: os.stat_result, name: str = "") -> StatResult:
    is_dir = (info.st_mode & 0o170000) == 0o040000
    return StatResult(size=0 if is_dir else info.st_size, is_dir=is_dir, mtime=info.st_mtime, name=name)


class FileBackend(StorageBackend):
    """Local files; tokens are accepted and ignored (the OS decides access)."""

    schemes = ("file",)

    def stat(self, url: str) -> StatResult:
        path = url_to_path(url)
        try:
            return _stat_result(os.stat(path))
        except OSError as exc:
            raise localfs.os_error(exc, url) from exc

    def listdir(self, url: str) -> list[StatResult]:
        path = url_to_path(url)
        try:
            with os.scandir(path) as entries:
                return [
                    _stat_result(entry.stat(), entry.name) for entry in entries if not localfs.is_internal(entry.name)
                ]
        except OSError as exc:
            raise localfs.os_error(exc, url) from exc

    def read(self, url: str, offset: int = 0, length: int | None = None) -> Iterator[bytes]:
        path = url_to_path(url)
        if offset < 0 or (length is not None and length < 0):
            raise InvalidInput("offset and length must not be negative")
        try:
            stream = open(path, "rb", buffering=0)  # noqa: SIM115 - closed by the generator
        except OSError as exc:
            raise localfs.os_error(exc, url) from exc
        return _read_range(stream, offset, length)

    def write(
        self, url: str, chunks: Iterable[bytes], size: int | None = None, *, overwrite: bool = False
    ) -> WriteResult:
        final = url_to_path(url)
        if not overwrite and final.exists():
            raise AlreadyExists(f"{url} already exists")
        _make_dirs(final.parent, url)
        temp = localfs.temp_path(final)
        try:
            written, adler32 = _write_chunks(temp, chunks)
            if size is not None and written != size:
                raise InvalidInput(f"expected {size} bytes, got {written}")
            localfs.store_checksums(temp, {"adler32": adler32})
            localfs.publish(temp, final, overwrite)
        except OSError as exc:
            raise localfs.os_error(exc, url) from exc
        finally:
            localfs.discard(temp)
        return WriteResult(size=written, adler32=adler32)

    def delete(self, url: str) -> None:
        path = url_to_path(url)
        try:
            if path.is_dir() and not path.is_symlink():
                os.rmdir(path)
            else:
                os.unlink(path)
        except OSError as exc:
            raise localfs.os_error(exc, url) from exc

    def checksum(self, url: str, algorithm: ChecksumAlgorithm = "adler32") -> str:
        if self.stat(url).is_dir:
            raise InvalidInput(f"{url} is a directory")
        return localfs.file_checksum(url_to_path(url), algorithm)

    def mkdir(self, url: str) -> None:
        _make_dirs(url_to_path(url), url)


def _make_dirs(path: Path, url: str) -> None:
    """mkdir -p, reporting a file in the way as AlreadyExists."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError as exc:
        raise AlreadyExists(f"{url}: a file has this name") from exc
    except OSError as exc:
        raise localfs.os_error(exc, url) from exc


def _read_range(stream: io.FileIO, offset: int, length: int | None) -> Iterator[bytes]:
    """Yield the requested byte range in large chunks, then close the file."""
    with stream:
        stream.seek(offset)
        remaining = length
        while remaining is None or remaining > 0:
            try:
                chunk = stream.read(CHUNK if remaining is None else min(CHUNK, remaining))
            except OSError as exc:
                raise StorageError(f"read failed: {exc.strerror}") from exc
            if not chunk:
                return
            if remaining is not None:
                remaining -= len(chunk)
            yield chunk


def _write_chunks(temp: Path, chunks: Iterable[bytes]) -> tuple[int, str]:
    """Write chunks to a new file, returning size and adler32."""
    adler = Adler32()
    written = 0
    with open(temp, "xb", buffering=0) as stream:
        for chunk in chunks:
            adler.update(chunk)
            view = memoryview(chunk)
            while view:
                view = view[stream.write(view) :]
            written += len(chunk)
    return written, adler.hexdigest()
