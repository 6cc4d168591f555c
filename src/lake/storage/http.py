"""The HTTP/WebDAV backend (http, https, davs) over httpx, as davix and gfal2 speak it to grid storage."""

from __future__ import annotations

import functools
import os
import ssl
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import PurePosixPath
from urllib.parse import unquote, urlsplit, urlunsplit

import httpx

from lake.core.checksums import Adler32
from lake.core.errors import (
    AlreadyExists,
    ChecksumMismatch,
    Conflict,
    FileNotFoundOnStorage,
    InvalidInput,
    LakeError,
    PermissionDenied,
    QuotaExceeded,
    StorageError,
    Unauthenticated,
    Unavailable,
    UnsupportedOperation,
)
from lake.storage import webdav
from lake.storage.base import ChecksumAlgorithm, CopyResult, Progress, StatResult, StorageBackend, WriteResult
from lake.storage.httptpc import copy_headers, read_copy_stream

READ_CHUNK = 1024 * 1024
SPOOL_MEMORY = 8 * 1024 * 1024
Body = bytes | Iterator[bytes] | None
_PROPFIND_BODY = (
    b'<?xml version="1.0" encoding="utf-8"?><D:propfind xmlns:D="DAV:"><D:prop>'
    b"<D:resourcetype/><D:getcontentlength/><D:getlastmodified/></D:prop></D:propfind>"
)
_STATUS_ERRORS: dict[int, type[LakeError]] = {
    400: InvalidInput,
    401: Unauthenticated,
    403: PermissionDenied,
    404: FileNotFoundOnStorage,
    409: Conflict,
    412: AlreadyExists,
    413: QuotaExceeded,
    501: UnsupportedOperation,
    503: Unavailable,
    507: QuotaExceeded,
}


def tls_context(verify: bool | str) -> ssl.SSLContext:
    """One SSL context per trust setting, shared by all clients: building one (loading the CA bundle) costs
    milliseconds, which dominated per-file uploads and transfers when every backend built its own. The
    SSL_CERT_FILE / SSL_CERT_DIR environment (which httpx honours) is part of the key."""
    return _tls_context(verify, os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))


@functools.lru_cache(maxsize=16)
def _tls_context(verify: bool | str, _cert_file: str | None, _cert_dir: str | None) -> ssl.SSLContext:
    return httpx.create_ssl_context(verify=verify)


def http_url(url: str) -> str:
    """davs:// -> https://, dav:// -> http://; http(s) unchanged."""
    parts = urlsplit(url)
    scheme = {"davs": "https", "dav": "http"}.get(parts.scheme, parts.scheme)
    if scheme not in ("http", "https"):
        raise InvalidInput(f"not an HTTP URL: {url}")
    return urlunsplit(parts._replace(scheme=scheme))


def status_error(response: httpx.Response, what: str) -> LakeError:
    """The Lake error for a failed HTTP status."""
    cls = _STATUS_ERRORS.get(response.status_code, StorageError)
    return cls(f"{what}: HTTP {response.status_code}", status=response.status_code)


@contextmanager
def _native_errors(what: str) -> Iterator[None]:
    """Turn httpx transport failures into Lake errors (connection refused -> Unavailable)."""
    try:
        yield
    except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
        raise Unavailable(f"{what}: cannot connect ({exc})") from exc
    except httpx.LocalProtocolError as exc:
        raise InvalidInput(f"{what}: {exc}") from exc
    except httpx.HTTPError as exc:
        raise StorageError(f"{what}: {type(exc).__name__}: {exc}") from exc


class HttpBackend(StorageBackend):
    """HTTP/WebDAV storage (XRootD, dCache, EOS, StoRM, Lake's own endpoint) with bearer tokens."""

    schemes = ("http", "https", "davs", "dav")

    def __init__(
        self,
        token: str | None = None,
        *,
        verify: bool | str = True,
        timeout: float = 60.0,
        client: httpx.Client | None = None,
    ) -> None:
        super().__init__(token)
        self.client = client or httpx.Client(verify=tls_context(verify), timeout=timeout, follow_redirects=True)

    def close(self) -> None:
        self.client.close()

    def _headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        headers.update(extra or {})
        return headers

    def _request(
        self, method: str, url: str, headers: dict[str, str] | None = None, content: Body = None
    ) -> httpx.Response:
        with _native_errors(f"{method} {url}"):
            return self.client.request(method, http_url(url), headers=self._headers(headers), content=content)

    def _propfind(self, url: str, depth: str) -> list[webdav.DavEntry]:
        response = self._request("PROPFIND", url, {"Depth": depth}, content=_PROPFIND_BODY)
        if response.status_code != 207:
            raise status_error(response, f"PROPFIND {url}")
        return webdav.parse_multistatus(response.content)

    def stat(self, url: str) -> StatResult:
        response = self._request("HEAD", url)
        if response.status_code >= 300:
            raise status_error(response, f"HEAD {url}")
        length = response.headers.get("content-length")
        last_modified = response.headers.get("last-modified")
        # XrdHttp answers HEAD without Last-Modified, and for a directory as if it were a 4096-byte file
        if (
            url.endswith("/")
            or length is None
            or last_modified is None
            or "directory" in response.headers.get("content-type", "")
        ):
            entries = self._propfind(url, "0")
            if not entries:
                raise StorageError(f"PROPFIND {url}: empty answer")
            return StatResult(size=entries[0].size, is_dir=entries[0].is_dir, mtime=entries[0].mtime)
        return StatResult(size=int(length), is_dir=False, mtime=webdav.http_date_to_epoch(last_modified))

    def listdir(self, url: str) -> list[StatResult]:
        own = PurePosixPath(unquote(urlsplit(http_url(url)).path) or "/")
        entries = self._propfind(url.rstrip("/") + "/", "1")
        own_dir = [entry for entry in entries if PurePosixPath(entry.path) == own]
        if own_dir and not own_dir[0].is_dir:
            raise InvalidInput(f"{url} is not a directory")
        return [
            StatResult(size=e.size, is_dir=e.is_dir, mtime=e.mtime, name=PurePosixPath(e.path).name)
            for e in entries
            if PurePosixPath(e.path) != own
        ]

    def read(self, url: str, offset: int = 0, length: int | None = None) -> Iterator[bytes]:
        if offset < 0 or (length is not None and length < 0):
            raise InvalidInput("offset and length must not be negative")
        headers = {}
        if offset or length is not None:
            # a closed range within the file: XrdHttp 5.5.3 answers open or overlong ranges with a wrong body
            size = self.stat(url).size
            end = size if length is None else min(size, offset + length)
            if end <= offset:
                return iter(())
            headers["Range"] = f"bytes={offset}-{end - 1}"
        request = self.client.build_request("GET", http_url(url), headers=self._headers(headers))
        with _native_errors(f"GET {url}"):
            response = self.client.send(request, stream=True)
        if response.status_code == 416:
            response.close()
            return iter(())
        if response.status_code not in (200, 206):
            response.close()
            raise status_error(response, f"GET {url}")
        skip = offset if response.status_code == 200 else 0
        return _stream_body(response, skip, length, f"GET {url}")

    def write(
        self, url: str, chunks: Iterable[bytes], size: int | None = None, *, overwrite: bool = False
    ) -> WriteResult:
        adler = CountingAdler32()
        if size is None:  # XrdHttp 5.5.3 often rejects chunked bodies: send a Content-Length
            chunks, size = _spooled(chunks)
        # If-None-Match for servers that honour it; the HEAD for those (XrdHttp) that ignore it
        if not overwrite and self.exists(url):
            raise AlreadyExists(f"PUT {url}: exists and may not be overwritten")
        headers = {"Content-Length": str(size)} if overwrite else {"Content-Length": str(size), "If-None-Match": "*"}
        try:
            response = self._request("PUT", url, headers, content=_checked_body(chunks, size, adler))
        except BaseException:
            if not overwrite:  # servers writing in place (XrdHttp) keep a partial file: it was not there before
                self._discard(url)
            raise
        if response.status_code == 409:
            raise AlreadyExists(f"PUT {url}: exists and may not be overwritten", status=409)
        if response.status_code >= 300:
            raise status_error(response, f"PUT {url}")
        _check_server_digest(response, adler.hexdigest(), url)
        return WriteResult(size=adler.size, adler32=adler.hexdigest())

    def _discard(self, url: str) -> None:
        """Best-effort removal of what a failed upload may have left."""
        with suppress(LakeError):
            self._request("DELETE", url)

    def delete(self, url: str) -> None:
        response = self._request("DELETE", url)
        if response.status_code >= 300:
            raise status_error(response, f"DELETE {url}")

    def checksum(self, url: str, algorithm: ChecksumAlgorithm = "adler32") -> str:
        return self._digest_head(url, algorithm)[1]

    def size_and_checksum(self, url: str, algorithm: ChecksumAlgorithm = "adler32") -> tuple[int, str]:
        """A file's size and checksum from one HEAD with Want-Digest (a transfer's verification)."""
        response, value = self._digest_head(url, algorithm)
        length = response.headers.get("content-length")
        return (int(length) if length is not None else self.stat(url).size), value

    def _digest_head(self, url: str, algorithm: ChecksumAlgorithm) -> tuple[httpx.Response, str]:
        if algorithm not in ("adler32", "md5"):
            raise InvalidInput(f"unsupported checksum algorithm {algorithm!r}")
        response = self._request("HEAD", url, {"Want-Digest": algorithm})
        if response.status_code >= 300:
            raise status_error(response, f"HEAD {url}")
        value = webdav.parse_digest(response.headers.get("digest", ""), algorithm)
        if value is None:
            raise UnsupportedOperation(f"{url}: the server gave no {algorithm} digest")
        return response, value

    def mkdir(self, url: str) -> None:
        response = self._request("MKCOL", url)
        if response.status_code == 409:
            parent = urlsplit(http_url(url))
            parent_path = str(PurePosixPath(parent.path.rstrip("/")).parent)
            if parent_path in ("/", parent.path.rstrip("/")):
                raise status_error(response, f"MKCOL {url}")
            self.mkdir(urlunsplit(parent._replace(path=parent_path)))
            response = self._request("MKCOL", url)
        if response.status_code == 405:
            if not self.stat(url).is_dir:
                raise AlreadyExists(f"{url}: a file has this name")
            return
        if response.status_code >= 300:
            raise status_error(response, f"MKCOL {url}")

    def third_party_copy(
        self,
        source_url: str,
        dest_url: str,
        source_token: str | None = None,
        *,
        overwrite: bool = False,
        progress: Progress | None = None,
    ) -> CopyResult:
        """HTTP-TPC pull: COPY to the destination with `Source:`; the source token travels as
        `TransferHeaderAuthorization` and the final `success:`/`failure:` line decides."""
        headers = copy_headers("Source", http_url(source_url), source_token, overwrite)
        return self._copy(dest_url, headers, progress)

    def third_party_push(
        self,
        source_url: str,
        dest_url: str,
        dest_token: str | None = None,
        *,
        overwrite: bool = False,
        progress: Progress | None = None,
    ) -> CopyResult:
        """HTTP-TPC push: COPY to the source with `Destination:`; the source PUTs there with `dest_token`."""
        headers = copy_headers("Destination", http_url(dest_url), dest_token, overwrite)
        return self._copy(source_url, headers, progress)

    def _copy(self, url: str, headers: dict[str, str], progress: Progress | None) -> CopyResult:
        """Send one COPY and follow its perf markers to the final line."""
        request = self.client.build_request("COPY", http_url(url), headers=self._headers(headers))
        with _native_errors(f"COPY {url}"):
            response = self.client.send(request, stream=True)
            try:
                if response.status_code >= 300:
                    response.read()
                    raise status_error(response, f"COPY {url}")
                transferred = read_copy_stream(response.iter_lines(), progress)
            finally:
                response.close()
        return CopyResult(bytes_transferred=transferred)


class CountingAdler32(Adler32):
    """Adler32 that also counts the bytes it has seen (shared with the root:// backend)."""

    def __init__(self) -> None:
        super().__init__()
        self.size = 0

    def update(self, data: bytes | bytearray | memoryview) -> None:
        super().update(data)
        self.size += len(data)


def _checked_body(chunks: Iterable[bytes], size: int | None, adler: CountingAdler32) -> Iterator[bytes]:
    """Yield chunks one step behind, so a size mismatch is raised before the last byte goes out and
    the server never sees a complete body of the wrong length."""
    held: bytes | None = None
    for chunk in chunks:
        adler.update(chunk)
        if size is not None and adler.size > size:
            raise InvalidInput(f"more than the announced {size} bytes")
        if held:
            yield held
        held = chunk
    if size is not None and adler.size != size:
        raise InvalidInput(f"{adler.size} bytes instead of the announced {size}")
    if held:
        yield held


def _spooled(chunks: Iterable[bytes]) -> tuple[Iterator[bytes], int]:
    """Buffer a body of unknown size (in memory up to SPOOL_MEMORY, then on disk) to learn its size."""
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY)  # noqa: SIM115 - closed by the generator
    try:
        for chunk in chunks:
            spool.write(chunk)
    except BaseException:
        spool.close()
        raise
    size = spool.tell()
    spool.seek(0)

    def replay() -> Iterator[bytes]:
        with spool:
            while chunk := spool.read(READ_CHUNK):
                yield chunk

    return replay(), size


def _stream_body(response: httpx.Response, skip: int, length: int | None, what: str) -> Iterator[bytes]:
    """Yield a GET body, dropping `skip` leading bytes and stopping after `length` (for servers that
    ignore Range), and always close the response."""
    remaining = length
    try:
        with _native_errors(what):
            for chunk in response.iter_bytes(READ_CHUNK):
                if skip:
                    dropped = min(skip, len(chunk))
                    chunk, skip = chunk[dropped:], skip - dropped
                if remaining is not None:
                    chunk, remaining = chunk[:remaining], remaining - min(remaining, len(chunk))
                if chunk:
                    yield chunk
                if remaining == 0:
                    return
    finally:
        response.close()


def _check_server_digest(response: httpx.Response, adler32: str, url: str) -> None:
    """Compare the adler32 the server reports for a PUT (if any) with what we sent."""
    reported = webdav.parse_digest(response.headers.get("digest", ""), "adler32")
    if reported is not None and reported != adler32:
        raise ChecksumMismatch(f"PUT {url}: server stored adler32 {reported}, sent {adler32}")
