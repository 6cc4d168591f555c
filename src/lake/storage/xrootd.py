"""The root:// (and roots://) backend over the XRootD Python bindings (`XRootD.client`, pip package `xrootd`).

Why the bindings and not the `xrdcp`/`xrdfs` tools: one long-lived client in the process keeps one
connection per server and reuses it for every request (hundreds of small files per second instead of
about ten), and about 1 % of `xrdcp`/`xrdfs` processes of XRootD 5.5 stall for 5 s at exit (grid-stack.md §7),
which would make per-file subprocesses both slow and erratic.

Tokens travel per request as the `authz` CGI (`?authz=Bearer%20<token>`), which the SciTokens authorization
plugin reads on root:// exactly as XrdHttp feeds it from the Authorization header; URLs carrying a token
are never put into error messages. Writes go to a hidden temporary name in the same directory and are
renamed when complete. Timeouts are short and connection retries few, so a server that is down or hangs
fails with Unavailable within seconds.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from XRootD import client
from XRootD.client.flags import DirListFlags, MkDirFlags, OpenFlags, QueryCode, StatInfoFlags

from lake.core.checksums import normalize_adler32
from lake.core.errors import (
    AlreadyExists,
    FileNotFoundOnStorage,
    InvalidInput,
    LakeError,
    PermissionDenied,
    QuotaExceeded,
    StorageError,
    Timeout,
    Unavailable,
    UnsupportedOperation,
)
from lake.storage.base import ChecksumAlgorithm, CopyResult, Progress, StatResult, StorageBackend, WriteResult
from lake.storage.http import CountingAdler32

READ_CHUNK = 4 * 1024 * 1024
TEMP_MARK = ".lake-part-"  # hidden temporary files of unfinished writes: `.<name>.lake-part-<hex>`
_CLIENT_ENV = {
    "ConnectionWindow": 3,  # seconds to establish a connection before giving up on this attempt
    "ConnectionRetry": 1,  # attempts: a closed port or a dead host fails at once
    "StreamErrorWindow": 3,
    "TimeoutResolution": 1,  # how often expired requests are checked (default 15 s)
}
_SERVER_ERRORS: dict[int, type[LakeError]] = {
    3010: PermissionDenied,  # kXR_NotAuthorized
    3030: PermissionDenied,  # kXR_AuthFailed
    3011: FileNotFoundOnStorage,  # kXR_NotFound
    3018: AlreadyExists,  # kXR_ItExists
    3009: QuotaExceeded,  # kXR_NoSpace
    3021: QuotaExceeded,  # kXR_overQuota
    3013: UnsupportedOperation,  # kXR_Unsupported
    3000: InvalidInput,  # kXR_ArgInvalid
    3014: Unavailable,  # kXR_noserver
    3024: Unavailable,  # kXR_Overloaded
}
_CLIENT_TIMEOUTS = frozenset({103, 206})  # errSocketTimeout, errOperationExpired: a hung server
_CLIENT_UNAVAILABLE = frozenset({101, 102, 104, 107, 108, 109, 110, 202, 203, 207, 402})
_CLIENT_AUTH_FAILED = 204


def _configure_client() -> None:
    for key, value in _CLIENT_ENV.items():
        client.EnvPutInt(key, value)


_configure_client()


@dataclass(frozen=True)
class _Target:
    """A root:// URL split into the server (`root://host:port`) and the plain path."""

    server: str
    path: str

    @classmethod
    def parse(cls, url: str) -> _Target:
        parts = urlsplit(url)
        if parts.scheme not in RootBackend.schemes or not parts.netloc:
            raise InvalidInput(f"not a root:// URL: {url}")
        path = "/" + unquote(parts.path).lstrip("/")
        return cls(f"{parts.scheme}://{parts.netloc}", str(PurePosixPath(path)))

    def child(self, name: str) -> _Target:
        return _Target(self.server, str(PurePosixPath(self.path) / name))

    @property
    def parent(self) -> _Target:
        return _Target(self.server, str(PurePosixPath(self.path).parent))

    @property
    def name(self) -> str:
        return PurePosixPath(self.path).name


def _error(status: Any, what: str) -> LakeError:
    """The Lake error for a failed XRootDStatus: by the server's error number, else the client's code."""
    if status.code == 400:
        cls = _SERVER_ERRORS.get(status.errno, StorageError)
    elif status.code == _CLIENT_AUTH_FAILED:
        cls = PermissionDenied
    elif status.code in _CLIENT_TIMEOUTS:
        cls = Timeout
    elif status.code in _CLIENT_UNAVAILABLE:
        cls = Unavailable
    else:
        cls = StorageError
    return cls(f"{what}: {status.message.strip()}")


class RootBackend(StorageBackend):
    """XRootD storage (root://, roots://) with WLCG bearer tokens passed as the `authz` CGI."""

    schemes = ("root", "roots")

    def __init__(
        self, token: str | None = None, *, timeout: float = 15.0, tpc_timeout: float = 600.0, **_options: object
    ) -> None:
        """`timeout` bounds every request (seconds); `tpc_timeout` bounds a third-party copy."""
        super().__init__(token)
        self.timeout = max(1, int(timeout))
        self.tpc_timeout = max(1, int(tpc_timeout))
        self._filesystems: dict[str, client.FileSystem] = {}  # shared by `with_token` copies

    # plumbing

    def _fs(self, target: _Target) -> client.FileSystem:
        fs = self._filesystems.get(target.server)
        if fs is None:
            fs = self._filesystems.setdefault(target.server, client.FileSystem(target.server))
        return fs

    def _cgi(self, path: str, token: str | None = None, **extra: str) -> str:
        """`path` with the CGI for `extra` and the token (quoted, so spaces in the token cannot split it)."""
        params = [f"{key}={value}" for key, value in extra.items()]
        bearer = token if token is not None else self.token
        if bearer:
            params.append("authz=" + quote(f"Bearer {bearer}", safe=""))
        return f"{path}?{'&'.join(params)}" if params else path

    def _url(self, target: _Target, token: str | None = None) -> str:
        return f"{target.server}//{self._cgi(target.path.lstrip('/'), token)}"

    def _call(self, what: str, method: Any, *args: Any) -> Any:
        status, response = method(*args, timeout=self.timeout)
        if not status.ok:
            raise _error(status, what)
        return response

    # reading

    def stat(self, url: str) -> StatResult:
        target = _Target.parse(url)
        info = self._call(f"stat {target.path}", self._fs(target).stat, self._cgi(target.path))
        return _stat_result(info)

    def listdir(self, url: str) -> list[StatResult]:
        target = _Target.parse(url)
        if not self.stat(url).is_dir:
            raise InvalidInput(f"{url} is not a directory")
        listing = self._call(
            f"dirlist {target.path}", self._fs(target).dirlist, self._cgi(target.path), DirListFlags.STAT
        )
        return [
            _stat_result(entry.statinfo, entry.name)
            for entry in listing
            if TEMP_MARK not in entry.name and entry.name not in (".", "..")
        ]

    def read(self, url: str, offset: int = 0, length: int | None = None) -> Iterator[bytes]:
        if offset < 0 or (length is not None and length < 0):
            raise InvalidInput("offset and length must not be negative")
        target = _Target.parse(url)
        handle = client.File()
        status, _ = handle.open(self._url(target), OpenFlags.READ, timeout=self.timeout)
        if not status.ok:
            raise _error(status, f"open {target.path}")
        return self._read_chunks(handle, target, offset, length)

    def _read_chunks(self, handle: Any, target: _Target, offset: int, length: int | None) -> Iterator[bytes]:
        try:
            remaining = length
            while remaining is None or remaining > 0:
                size = READ_CHUNK if remaining is None else min(READ_CHUNK, remaining)
                status, data = handle.read(offset, size, timeout=self.timeout)
                if not status.ok:
                    raise _error(status, f"read {target.path}")
                if not data:
                    return
                yield data
                offset += len(data)
                remaining = None if remaining is None else remaining - len(data)
        finally:
            handle.close(timeout=self.timeout)

    def checksum(self, url: str, algorithm: ChecksumAlgorithm = "adler32") -> str:
        """Asked from the server (`query checksum`), which computes it once and keeps it in an xattr."""
        if algorithm not in ("adler32", "md5"):
            raise InvalidInput(f"unsupported checksum algorithm {algorithm!r}")
        target = _Target.parse(url)
        query = self._cgi(target.path, **{"cks.type": algorithm})
        answer = self._call(f"checksum {target.path}", self._fs(target).query, QueryCode.CHECKSUM, query)
        name, _, value = answer.rstrip(b"\x00").decode().strip().partition(" ")
        if name.lower() != algorithm or not value:
            raise StorageError(f"checksum {target.path}: unexpected answer {name!r}")
        return normalize_adler32(value) if algorithm == "adler32" else value.lower()

    # writing

    def write(
        self, url: str, chunks: Iterable[bytes], size: int | None = None, *, overwrite: bool = False
    ) -> WriteResult:
        target = _Target.parse(url)
        if not overwrite and self.exists(url):
            raise AlreadyExists(f"{target.path} exists and may not be overwritten")
        temp = target.parent.child(f".{target.name}{TEMP_MARK}{uuid.uuid4().hex[:12]}")
        try:
            adler = self._upload(temp, chunks, size)
            if not overwrite and self.exists(url):  # someone else finished first: keep theirs
                raise AlreadyExists(f"{target.path} exists and may not be overwritten")
            self._call(f"mv {target.path}", self._fs(target).mv, self._cgi(temp.path), self._cgi(target.path))
        except BaseException:
            self._fs(temp).rm(self._cgi(temp.path), timeout=self.timeout)
            raise
        return WriteResult(size=adler.size, adler32=adler.hexdigest())

    def _upload(self, temp: _Target, chunks: Iterable[bytes], size: int | None) -> CountingAdler32:
        """Write all chunks to `temp` (created with its parents); the size is checked before closing."""
        handle = client.File()
        status, _ = handle.open(self._url(temp), OpenFlags.NEW | OpenFlags.MAKEPATH, timeout=self.timeout)
        if not status.ok:
            raise _error(status, f"create {temp.parent.path}/...")
        adler = CountingAdler32()
        try:
            for chunk in chunks:
                if not chunk:
                    continue
                if size is not None and adler.size + len(chunk) > size:
                    raise InvalidInput(f"more than the announced {size} bytes")
                status, _ = handle.write(chunk, adler.size, timeout=self.timeout)
                if not status.ok:
                    raise _error(status, f"write {temp.parent.path}/...")
                adler.update(chunk)
            if size is not None and adler.size != size:
                raise InvalidInput(f"{adler.size} bytes instead of the announced {size}")
        finally:
            close_status, _ = handle.close(timeout=self.timeout)
        if not close_status.ok:
            raise _error(close_status, f"close {temp.parent.path}/...")
        return adler

    def delete(self, url: str) -> None:
        target = _Target.parse(url)
        fs = self._fs(target)
        remove = fs.rmdir if self.stat(url).is_dir else fs.rm
        self._call(f"delete {target.path}", remove, self._cgi(target.path))

    def mkdir(self, url: str) -> None:
        target = _Target.parse(url)
        status, _ = self._fs(target).mkdir(self._cgi(target.path), MkDirFlags.MAKEPATH, timeout=self.timeout)
        if status.ok:
            return
        error = _error(status, f"mkdir {target.path}")
        if isinstance(error, AlreadyExists) and self.stat(url).is_dir:
            return
        raise error

    # third-party copy

    def third_party_copy(
        self,
        source_url: str,
        dest_url: str,
        source_token: str | None = None,
        *,
        overwrite: bool = False,
        progress: Progress | None = None,
    ) -> CopyResult:
        """root TPC: the destination server pulls from the source (`CopyProcess` with `thirdparty="only"`).

        The destination is not stat'ed around the copy: a token-protected server refuses a stat with the
        create-only token a transfer holds there. The server itself refuses an existing file unless
        `overwrite`; the bytes reported are the copy's own progress count.
        """
        source, dest = _Target.parse(source_url), _Target.parse(dest_url)
        handler = _CopyHandler(progress)
        process = client.CopyProcess()
        process.add_job(
            self._url(source, source_token),
            self._url(dest),
            thirdparty="only",
            force=overwrite,
            mkdir=True,
            inittimeout=self.tpc_timeout,
            tpctimeout=self.tpc_timeout,
            posc=True,
        )
        status = process.prepare()
        if status.ok:
            status, results = process.run(handler)
            job_status = results[0]["status"] if results else status
            status = job_status if status.ok else status
        if not status.ok:
            raise _error(status, f"third-party copy {source.path} -> {dest.path}")
        return CopyResult(bytes_transferred=handler.processed)


class _CopyHandler(client.utils.CopyProgressHandler):  # type: ignore[misc]
    """Forwards CopyProcess progress to a Lake `Progress` callback."""

    def __init__(self, progress: Progress | None) -> None:
        super().__init__()
        self.progress = progress
        self.processed = 0

    def update(self, jobId: int, processed: int, total: int) -> None:  # noqa: N803 - the bindings' name
        self.processed = processed
        if self.progress is not None:
            self.progress(processed)


def _stat_result(info: Any, name: str = "") -> StatResult:
    is_dir = bool(info.flags & StatInfoFlags.IS_DIR)
    return StatResult(size=0 if is_dir else int(info.size), is_dir=is_dir, mtime=float(info.modtime), name=name)
