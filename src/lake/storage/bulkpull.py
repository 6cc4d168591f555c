"""The client of Lake's bulk third-party copy (`POST /.well-known/lake-pull`, see `lake.endpoint.bulk`): one
request asks a destination endpoint to pull many files, and its answer streams one result per file.

A destination that does not know the request (any other storage: XrdHttp, dCache, a plain WebDAV server) answers
404, 405 or 501: that is `BulkUnsupported`, and the caller copies those files one by one. Files the stream did
not answer for (the endpoint died mid-batch) are simply absent from what `pull_many` yields: the caller must
treat them as not copied.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import orjson

from lake.core.errors import LakeError, UnsupportedOperation
from lake.storage.http import HttpBackend, _native_errors, http_url, status_error

PATH = "/.well-known/lake-pull"
NOT_SUPPORTED = {404, 405, 501}


class BulkUnsupported(UnsupportedOperation):
    """The destination does not offer Lake's bulk pull."""


@dataclass(frozen=True)
class PullRequest:
    """One file to pull: from `source` (a URL) to `path` on the destination, with the catalog's facts."""

    source: str
    path: str
    bytes: int
    adler32: str


@dataclass(frozen=True)
class PullResult:
    """What the destination reports for the file at `index` of the request: done (with the size and adler32 it
    wrote or found, `existed` when the file was already complete there) or failed with a transfer category."""

    index: int
    ok: bool
    bytes: int | None = None
    adler32: str | None = None
    existed: bool = False
    category: str | None = None
    message: str = ""


def pull_many(
    dest: HttpBackend, origin: str, files: Sequence[PullRequest], source_token: str | None
) -> Iterator[PullResult]:
    """Send one bulk pull to the endpoint at `origin` with `dest`'s token; yield each file's result as it comes."""
    url = http_url(origin).rstrip("/") + PATH
    body = {
        "source_authorization": f"Bearer {source_token}" if source_token else None,
        "files": [{"source": f.source, "path": f.path, "bytes": f.bytes, "adler32": f.adler32} for f in files],
    }
    headers = {"Authorization": f"Bearer {dest.token}"} if dest.token else {}
    headers["Content-Type"] = "application/json"
    request = dest.client.build_request("POST", url, headers=headers, content=orjson.dumps(body))
    with _native_errors(f"POST {url}"):
        response = dest.client.send(request, stream=True)
        try:
            if response.status_code in NOT_SUPPORTED:
                raise BulkUnsupported(f"{origin} does not offer bulk pulls (HTTP {response.status_code})")
            if response.status_code >= 300:
                response.read()
                raise status_error(response, f"POST {url}")
            yield from _results(response.iter_lines(), len(files))
        finally:
            response.close()


def _results(lines: Iterator[str], count: int) -> Iterator[PullResult]:
    for line in lines:
        if not line.strip():
            continue
        item = orjson.loads(line)
        if "summary" in item:
            return
        index = item.get("index")
        if not isinstance(index, int) or not 0 <= index < count:
            raise LakeError(f"a bulk pull answered for an entry it was not sent: {line[:200]}")
        yield PullResult(
            index=index,
            ok=bool(item.get("ok")),
            bytes=item.get("bytes"),
            adler32=item.get("adler32"),
            existed=bool(item.get("existed")),
            category=item.get("category"),
            message=str(item.get("message") or ""),
        )
