"""Download: ask the server for sources, stream each file from the best source that works, verify it.

A file lands at `dest_dir/<scope>/<name>` only after its size and adler32 match the catalog; any failure
(HTTP error, unreachable storage, checksum mismatch) moves on to the next source.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from lake.client.base import raise_for_response
from lake.client.upload import ProgressCallback
from lake.core.checksums import Adler32, file_checksums, normalize_adler32
from lake.core.errors import ChecksumMismatch, InvalidInput, LakeError, Unavailable
from lake.core.models import DIDRef, DownloadFile, SourceReplica

if TYPE_CHECKING:
    from lake.client import LakeClient

GET_CHUNK = 1024 * 1024


@dataclass
class DownloadJob:
    """What to download and where; `rse_expression` restricts the sources, `site` prefers that site's caches."""

    did: DIDRef
    dest_dir: Path
    rse_expression: str | None = None
    parallel: int = 4
    progress: ProgressCallback | None = None
    site: str | None = None


@dataclass
class DownloadResult:
    """One file's outcome: the RSE it came from, or the error after every source failed."""

    scope: str
    name: str
    path: Path
    rse: str | None = None
    error: LakeError | None = None
    skipped: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None


def as_did(did: DIDRef | str) -> DIDRef:
    """Accept a DIDRef or `scope:name`."""
    if isinstance(did, DIDRef):
        return did
    scope, sep, name = did.partition(":")
    if not (sep and scope and name):
        raise InvalidInput(f"expected SCOPE:NAME, got {did!r}")
    return DIDRef(scope=scope, name=name)


def verify(file: DownloadFile, size: int, adler32: str) -> None:
    """Raise ChecksumMismatch unless size and adler32 match what the catalog says."""
    if file.bytes is not None and size != file.bytes:
        raise ChecksumMismatch(f"{file.scope}:{file.name}: size {size} != {file.bytes}")
    if file.adler32 and normalize_adler32(adler32) != normalize_adler32(file.adler32):
        raise ChecksumMismatch(f"{file.scope}:{file.name}: adler32 {adler32} != {file.adler32}")


def already_present(file: DownloadFile, target: Path) -> bool:
    """True when the target exists and already matches the catalog (so nothing is fetched)."""
    if not target.is_file() or not file.adler32:
        return False
    size, adler32, _ = file_checksums(target, md5=False)
    try:
        verify(file, size, adler32)
    except ChecksumMismatch:
        return False
    return True


def _stream_to(
    http: httpx.Client, source: SourceReplica, part: Path, file: DownloadFile, progress: ProgressCallback
) -> None:
    headers = {"Authorization": f"Bearer {source.token}"} if source.token else {}
    adler, size = Adler32(), 0
    try:
        with http.stream("GET", source.pfn, headers=headers) as response, open(part, "wb") as out:
            raise_for_response(response)
            for chunk in response.iter_bytes(GET_CHUNK):
                out.write(chunk)
                adler.update(chunk)
                size += len(chunk)
                progress(file.name, len(chunk), file.bytes or 0)
    except httpx.HTTPError as exc:
        raise Unavailable(f"cannot read {source.pfn} from {source.rse}: {exc}") from exc
    verify(file, size, adler.hexdigest())


def fetch_source(
    http: httpx.Client,
    source: SourceReplica,
    file: DownloadFile,
    target: Path,
    progress: ProgressCallback | None = None,
) -> None:
    """Fetch one file from one source into a temporary file, verify it, then move it into place."""
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(target.name + ".lake-part")
    done = 0

    def counted(name: str, count: int, total: int) -> None:
        nonlocal done
        done += count
        if progress:
            progress(name, count, total)

    try:
        _stream_to(http, source, part, file, counted)
        os.replace(part, target)
    except BaseException:
        if progress and done:
            progress(file.name, -done, file.bytes or 0)
        raise
    finally:
        part.unlink(missing_ok=True)


def _final_error(file: DownloadFile, attempts: list[tuple[str, LakeError]]) -> LakeError:
    did = f"{file.scope}:{file.name}"
    if not attempts:
        return Unavailable(f"{did}: no replica to download from")
    tried = [{"rse": rse, "code": exc.code, "message": exc.message} for rse, exc in attempts]
    summary = "; ".join(f"{rse}: {exc.message}" for rse, exc in attempts)
    if any(isinstance(exc, ChecksumMismatch) for _, exc in attempts):
        return ChecksumMismatch(f"{did}: no source gave a valid copy ({summary})", attempts=tried)
    return Unavailable(f"{did}: every source failed ({summary})", attempts=tried)


def fetch_file(
    http: httpx.Client, file: DownloadFile, dest_dir: Path, progress: ProgressCallback | None = None
) -> DownloadResult:
    """Try the sources of one file in order until one gives a verified copy."""
    target = dest_dir / file.scope / file.name
    result = DownloadResult(scope=file.scope, name=file.name, path=target)
    if already_present(file, target):
        result.skipped = True
        return result
    attempts: list[tuple[str, LakeError]] = []
    for source in file.sources:
        try:
            fetch_source(http, source, file, target, progress)
        except LakeError as exc:
            attempts.append((source.rse, exc))
            continue
        result.rse = source.rse
        return result
    result.error = _final_error(file, attempts)
    return result


def run_download(client: LakeClient, job: DownloadJob) -> list[DownloadResult]:
    """Download every file of a DID in parallel; one result per file."""
    files = list(client.list_downloads(job.did.scope, job.did.name, job.rse_expression, job.site))
    dest_dir = job.dest_dir
    with ThreadPoolExecutor(max_workers=max(1, job.parallel)) as pool:
        return list(pool.map(lambda f: fetch_file(client.storage_http, f, dest_dir, job.progress), files))
