"""Local-disk primitives shared by the file:// backend and the built-in endpoint.

Files are written under a hidden temporary name in their final directory and published by a link or
rename only when complete. A temporary name carries its writer (a hash of the host name, and the pid) and
the process remembers the ones it is writing, so a sweep can tell leftovers from live uploads
(`temp_abandoned`). Checksums are cached in extended attributes (`user.lake.<algorithm>` =
`<hex> <size>:<mtime_ns>`), so a file modified behind our back is recomputed.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import secrets
import socket
import stat
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
TEMP_PREFIX = INTERNAL_PREFIX + "tmp."
_HOST = hashlib.blake2s(socket.gethostname().encode(), digest_size=3).hexdigest()
_writing: set[str] = set()  # temporary files this process named and has not yet published or discarded


def is_internal(name: str) -> bool:
    """Whether a directory entry is Lake's own temporary file (never listed nor served)."""
    return name.startswith(INTERNAL_PREFIX)


def temp_name(name: str, pid: int | None = None) -> str:
    """The hidden temporary name for a file `name`, tagged with its writer: this host's hash and `pid` (ours)."""
    return f"{TEMP_PREFIX}{_HOST}-{os.getpid() if pid is None else pid}-{secrets.token_hex(4)}.{name}"


def temp_path(final: Path) -> Path:
    """A unique temporary path next to `final` (the rename stays on one file system), marked as being written."""
    path = final.with_name(temp_name(final.name))
    _writing.add(str(path))
    return path


def _writer_gone(name: str) -> bool:
    """Whether a temporary file's writer has ended: this process (which is not writing it), so also an earlier
    one with our pid, or a pid of this host that no longer runs. Another host's writer is never known gone."""
    host, _, rest = name.removeprefix(TEMP_PREFIX).partition("-")
    pid = rest.partition("-")[0]
    if host != _HOST or not pid.isdigit() or int(pid) <= 0:
        return False
    if int(pid) == os.getpid():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:  # alive, another user's
        return False
    return False


def temp_abandoned(path: Path, max_idle: float, now: float) -> bool:
    """Whether no one will finish this temporary file: this process is not writing it, and its writer is gone
    or it was not written for `max_idle` seconds (a pid reused since, another host's writer, an old name)."""
    if not path.name.startswith(TEMP_PREFIX) or str(path) in _writing:
        return False
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return False
    return stat.S_ISREG(info.st_mode) and (_writer_gone(path.name) or now - info.st_mtime > max_idle)


def remove_stale_temp_files(root: Path, max_idle: float, now: float) -> int:
    """Remove the abandoned temporary files under `root` (symlinks are not followed); returns how many."""
    removed = 0
    for directory, _dirs, names in os.walk(root):
        for name in names:
            path = Path(directory) / name
            if temp_abandoned(path, max_idle, now):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
                    removed += 1
    return removed


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
        _writing.discard(str(temp))


def discard(path: Path) -> None:
    """Remove a temporary file, ignoring that it may already be gone."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    _writing.discard(str(path))


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
