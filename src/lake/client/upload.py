"""Upload: checksum locally, ask the server for PFNs, PUT in parallel to storage, then confirm.

The server registers the replicas COPYING, verifies size and adler32 on storage at completion and only
then marks them AVAILABLE; a failed PUT is reported as failed and never confirmed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from lake.client.base import raise_for_response
from lake.core.checksums import file_checksums
from lake.core.errors import AlreadyExists, InvalidInput, LakeError, Unavailable
from lake.core.models import (
    DIDIn,
    DIDRef,
    DIDType,
    FileIn,
    ReplicaState,
    UploadDone,
    UploadRequest,
    UploadResult,
    UploadTicket,
)

if TYPE_CHECKING:
    from lake.client import LakeClient

BATCH = 5_000  # files per upload request, under the server's default limit of items per call (10,000)
ProgressCallback = Callable[[str, int, int], None]
"""Called as `progress(name, bytes_done_now, file_size)`; a negative count rolls back a failed try."""

PUT_CHUNK = 1024 * 1024


@dataclass
class UploadJob:
    """What to upload where; `meta` goes on every file and on a dataset the upload creates."""

    paths: list[Path]
    rse: str
    scope: str
    dataset: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    parallel: int = 4
    progress: ProgressCallback | None = None


def collect_files(paths: list[Path]) -> list[tuple[Path, str]]:
    """Local files and their lake names: a file's name, or its path relative to an uploaded directory."""
    found: list[tuple[Path, str]] = []
    for path in paths:
        if path.is_dir():
            found += [(f, f.relative_to(path).as_posix()) for f in sorted(path.rglob("*")) if f.is_file()]
        elif path.is_file():
            found.append((path, path.name))
        else:
            raise InvalidInput(f"no such file or directory: {path}")
    names = [name for _, name in found]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise InvalidInput(f"several files would get the same name: {', '.join(duplicates)}")
    return found


def _describe(path: Path, name: str, job: UploadJob) -> FileIn:
    size, adler32, md5 = file_checksums(path)
    return FileIn(scope=job.scope, name=name, bytes=size, adler32=adler32, md5=md5, meta=dict(job.meta))


def _ensure_dataset(client: LakeClient, job: UploadJob) -> DIDRef | None:
    if not job.dataset:
        return None
    with contextlib.suppress(AlreadyExists):
        client.add_did(DIDIn(scope=job.scope, name=job.dataset, type=DIDType.DATASET, meta=dict(job.meta)))
    return DIDRef(scope=job.scope, name=job.dataset)


def _chunks(path: Path, name: str, size: int, progress: ProgressCallback | None) -> Iterator[bytes]:
    with open(path, "rb") as stream:
        while chunk := stream.read(PUT_CHUNK):
            yield chunk
            if progress:
                progress(name, len(chunk), size)


def put_file(
    http: httpx.Client,
    pfn: str,
    token: str,
    path: Path,
    spec: FileIn,
    progress: ProgressCallback | None = None,
) -> None:
    """Stream one local file to its PFN with the storage token; raise the LakeError of a failure."""
    headers = {"Authorization": f"Bearer {token}", "Content-Length": str(spec.bytes)}
    try:
        response = http.put(pfn, content=_chunks(path, spec.name, spec.bytes, progress), headers=headers)
    except httpx.TransportError as exc:
        raise Unavailable(f"cannot reach storage for {pfn}: {exc}") from exc
    raise_for_response(response)


def _put_all(
    client: LakeClient, ticket: UploadTicket, files: dict[str, tuple[Path, FileIn]], job: UploadJob
) -> dict[str, LakeError | None]:
    """PUT every target in parallel; return the error (or None) of each name."""

    def one(pfn: str, name: str) -> tuple[str, LakeError | None]:
        path, spec = files[name]
        try:
            put_file(client.storage_http, pfn, ticket.token, path, spec, job.progress)
        except LakeError as exc:
            return name, exc
        return name, None

    with ThreadPoolExecutor(max_workers=max(1, job.parallel)) as pool:
        return dict(pool.map(lambda t: one(t.pfn, t.name), ticket.targets))


def run_upload(client: LakeClient, job: UploadJob) -> list[UploadResult]:
    """Upload files and directories; one result per file, `error` set when it did not become AVAILABLE."""
    local = collect_files(job.paths)
    with ThreadPoolExecutor(max_workers=max(1, job.parallel)) as pool:
        specs = list(pool.map(lambda item: _describe(item[0], item[1], job), local))
    dataset = _ensure_dataset(client, job)
    results: list[UploadResult] = []
    for start in range(0, max(len(specs), 1), BATCH):  # one empty batch for no files: the server's answer
        results += _upload_batch(client, job, dataset, local[start : start + BATCH], specs[start : start + BATCH])
    return results


def _upload_batch(
    client: LakeClient, job: UploadJob, dataset: DIDRef | None, local: list[tuple[Path, str]], specs: list[FileIn]
) -> list[UploadResult]:
    """Ask for one ticket, PUT its files, confirm them."""
    ticket = client.request_upload(UploadRequest(rse=job.rse, files=specs, dataset=dataset))
    files = {spec.name: (path, spec) for (path, _), spec in zip(local, specs, strict=True)}
    errors = _put_all(client, ticket, files, job)
    done = [DIDRef(scope=job.scope, name=name) for name, error in errors.items() if error is None]
    confirmed: dict[str, UploadResult] = {}
    if done:
        results = client.complete_upload(UploadDone(rse=job.rse, files=done, dataset=dataset))
        confirmed = {result.name: result for result in results}
    return [_result(job.scope, spec.name, errors.get(spec.name), confirmed) for spec in specs]


def _result(scope: str, name: str, error: LakeError | None, confirmed: dict[str, UploadResult]) -> UploadResult:
    if error is not None:
        return UploadResult(scope=scope, name=name, state=ReplicaState.COPYING, error=error.to_dict())
    if name in confirmed:
        return confirmed[name]
    missing = {"code": "Unavailable", "message": "the server did not confirm this file"}
    return UploadResult(scope=scope, name=name, state=ReplicaState.COPYING, error=missing)
