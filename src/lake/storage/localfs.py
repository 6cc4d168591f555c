"""Local-disk primitives shared by the file:// backend and the built-in endpoint.

Files are written under a hidden temporary name in their final directory and published by a link or
rename only when complete. Checksums are cached in extended attributes (`user.lake.<algorithm>` =
`<hex> <size>:<mtime_ns>`), so a file modified behind our back is recomputed.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import secrets
from pathlib import Path

from lake.core.checksums import CHUNK, Adler32
from lake.core.errors import (
    AlreadyExists,
    Conflict,
    FileNotFoundOnStorage,
    InvalidInput,
    LakeError,
    PermissionDenied,
    QuotaExceeded,
    StorageError,
)

INTERNAL_PREFIX = ".lake."


def is_internal(name: str) -> bool:
    """Whether a directory entry is Lake's own temporary file (never listed nor served)."""
    return name.startswith(INTERNAL_PREFIX)


def temp_path(final: Path) -> Path:
    """A hidden, unique temporary name next to `final`, so the rename stays on one file system."""
    return final.with_name(f"{INTERNAL_PREFIX}tmp.{secrets.token_hex(6)}.{final.name}")


def os_error(exc: OSError, what: str) -> LakeError:
    """Translate an OSError into the matching Lake error."""
    code = exc.errno
    if code in (errno.ENOENT, errno.ENOTDIR):
        return FileNotFoundOnStorage(f"{what}: not found")
    if code in (errno.EACCES, errno.EPERM, errno.EROFS):
        return PermissionDenied(f"{what}: permission denied")
    if code == errno.EEXIST:
        return AlreadyExists(f"{what}: already exists")
    if code in (errno.ENOTEMPTY, errno.EISDIR):
        return Conflict(f"{what}: {os.strerror(code)}")
    if code in (errno.ENOSPC, errno.EDQUOT):
        return QuotaExceeded(f"{what}: no space left")
    if code in (errno.ENAMETOOLONG, errno.EINVAL):
        return InvalidInput(f"{what}: {os.strerror(code)}")
    return StorageError(f"{what}: {exc.strerror or exc}")


def publish(temp: Path, final: Path, overwrite: bool) -> None:
    """Make a complete temporary file visible under its final name (atomic; no overwrite by default)."""
    try:
        if overwrite:
            os.replace(temp, final)
            return
        if final.is_dir():
            raise AlreadyExists(f"{final.name}: a directory has this name")
        os.link(temp, final)
    except OSError as exc:
        raise os_error(exc, final.name) from exc
    finally:
        if not overwrite:
            discard(temp)


def discard(path: Path) -> None:
    """Remove a temporary file, ignoring that it may already be gone."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def _stamp(path: Path) -> str:
    info = os.stat(path)
    return f"{info.st_size}:{info.st_mtime_ns}"


def store_checksums(path: Path, checksums: dict[str, str]) -> None:
    """Cache checksums on the file (best effort: file systems without user xattrs just skip it)."""
    try:
        stamp = _stamp(path)
        for algorithm, value in checksums.items():
            os.setxattr(path, f"user.lake.{algorithm}", f"{value} {stamp}".encode())
    except OSError:
        return


def cached_checksum(path: Path, algorithm: str) -> str | None:
    """The cached checksum if the file has not changed (same size and mtime) since it was stored."""
    try:
        value, _, stamp = os.getxattr(path, f"user.lake.{algorithm}").decode().partition(" ")
        return value if stamp == _stamp(path) else None
    except OSError:
        return None


def compute_checksum(path: Path, algorithm: str) -> str:
    """Read the file once to compute a checksum (adler32 or md5, hex)."""
    digest = Adler32() if algorithm == "adler32" else hashlib.md5(usedforsecurity=False)
    with open(path, "rb", buffering=0) as stream:
        while chunk := stream.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def file_checksum(path: Path, algorithm: str) -> str:
    """The checksum from the xattr cache, else computed and cached."""
    if algorithm not in ("adler32", "md5"):
        raise InvalidInput(f"unsupported checksum algorithm {algorithm!r}")
    cached = cached_checksum(path, algorithm)
    if cached is not None:
        return cached
    try:
        value = compute_checksum(path, algorithm)
    except OSError as exc:
        raise os_error(exc, path.name) from exc
    store_checksums(path, {algorithm: value})
    return value
