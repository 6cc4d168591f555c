"""Bulk third-party copy between Lake endpoints: one request asks this (destination) endpoint to pull many files.

`POST /.well-known/lake-pull` with the destination token as bearer and a JSON body

    {"source_authorization": "Bearer <source token>", "overwrite": false,
     "files": [{"source": "http://src:8401/path", "path": "/dest/path", "bytes": 1500, "adler32": "0a1b2c3d"}]}

answers 200 at once and streams NDJSON, one line per file as each finishes (any order), then a summary:

    {"index": 0, "path": "/dest/path", "ok": true, "bytes": 1500, "adler32": "0a1b2c3d", "existed": false}
    {"index": 1, "path": "/dest/other", "ok": false, "category": "SOURCE_MISSING", "code": "...", "message": "..."}
    {"summary": {"done": 1, "failed": 1}}

Each file is authorized, pulled and verified on its own: written like a PUT (hidden temporary file, adler32
on the fly, published only when complete, of the expected size and adler32, and the source's `Digest` if it
sends one), so a bad entry, a missing source or a corrupted file fails that file only. A file already there
with the expected size and adler32 is reported done (`existed`), so a batch re-sent after a crash costs
nothing twice. Pulls share one connection pool to the sources (aiohttp, much cheaper per small file than
httpx here) and run at most `CONCURRENCY` at once. A client that sees no summary line (the endpoint died)
must treat the files without a line as not copied.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import orjson
from pydantic import BaseModel, Field, ValidationError

from lake.core.errors import (
    AlreadyExists,
    ChecksumMismatch,
    FileNotFoundOnStorage,
    InvalidInput,
    LakeError,
    PayloadTooLarge,
    PermissionDenied,
    StorageError,
    Timeout,
    TooManyItems,
    Unauthenticated,
)
from lake.core.replication import ErrorCategory
from lake.core.scopes import StorageOp
from lake.core.tokens import TokenClaims
from lake.endpoint.asgi import Request
from lake.endpoint.auth import Authorizer
from lake.endpoint.context import Context
from lake.endpoint.objects import decide_destination
from lake.endpoint.upload import Upload
from lake.storage import localfs, webdav

PATH = "/.well-known/lake-pull"
MAX_FILES = 1000
MAX_BODY = 4 * 1024 * 1024
CONCURRENCY = 16
NDJSON = [(b"content-type", b"application/x-ndjson")]


class PullEntry(BaseModel):
    source: str = Field(min_length=1)
    path: str = Field(min_length=1)
    bytes: int = Field(ge=0)
    adler32: str = Field(pattern=r"^[0-9a-f]{8}$")


class PullBatch(BaseModel):
    files: list[Any]  # entries are validated one by one: a bad one fails alone
    source_authorization: str | None = None
    overwrite: bool = False


async def bulk_pull(ctx: Context, request: Request) -> None:
    """Authenticate, read the batch, answer 200 and stream one result line per file, then the summary."""
    if request.raw_path != PATH:
        raise InvalidInput(f"POST is only for {PATH}")
    claims = ctx.authorizer.claims(request.header("authorization"))
    batch = _batch(await _read_body(request))
    headers = {"Want-Digest": "adler32"}
    if batch.source_authorization:
        headers["Authorization"] = batch.source_authorization
    await request.start(200, NDJSON)
    results: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    gate = asyncio.Semaphore(CONCURRENCY)
    session = ctx.sources.session()

    async def one(index: int, raw: Any) -> None:
        job = _Job(index, raw, claims, headers, batch.overwrite)
        async with gate:
            try:
                line = await _copy(ctx, session, job)
            except Exception as exc:  # a bug must still answer for its file, or the stream would wait forever
                line = _failure(job, LakeError(f"internal error: {type(exc).__name__}"), None)
        await results.put(line)

    tasks = [asyncio.create_task(one(index, raw)) for index, raw in enumerate(batch.files)]
    try:
        done = failed = 0
        for _ in tasks:
            line = await results.get()
            done, failed = done + line["ok"], failed + (not line["ok"])
            await request.body(orjson.dumps(line) + b"\n", more=True)
        await request.body(orjson.dumps({"summary": {"done": done, "failed": failed}}) + b"\n")
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _read_body(request: Request) -> bytes:
    chunks: list[bytes] = []
    size, more = 0, True
    while more:
        data, more = await request.receive_chunk()
        size += len(data)
        if size > MAX_BODY:
            raise PayloadTooLarge(f"a bulk pull body is at most {MAX_BODY} bytes")
        chunks.append(data)
    return b"".join(chunks)


def _batch(body: bytes) -> PullBatch:
    try:
        batch = PullBatch.model_validate_json(body)
    except ValidationError as exc:
        raise InvalidInput(f"malformed bulk pull: {exc.errors()[0]['msg']}") from exc
    if len(batch.files) > MAX_FILES:
        raise TooManyItems(f"{len(batch.files)} files in one bulk pull; the limit is {MAX_FILES}")
    return batch


class _Job:
    """One entry of a batch and what it is done with."""

    def __init__(self, index: int, raw: Any, claims: TokenClaims, headers: dict[str, str], overwrite: bool) -> None:
        self.index, self.raw, self.claims, self.headers, self.overwrite = index, raw, claims, headers, overwrite
        self.path = raw.get("path") if isinstance(raw, dict) and isinstance(raw.get("path"), str) else None


async def _copy(ctx: Context, session: aiohttp.ClientSession, job: _Job) -> dict[str, Any]:
    """Pull one entry; every failure becomes that entry's result line, with its category."""
    try:
        entry = PullEntry.model_validate(job.raw)
        return {"index": job.index, "path": entry.path, "ok": True, **await _pull(ctx, session, entry, job)}
    except ValidationError as exc:
        error: LakeError = InvalidInput(f"malformed entry: {exc.errors()[0]['msg']}")
        return _failure(job, error, ErrorCategory.STORAGE_ERROR)
    except _SourceFailed as exc:
        return _failure(job, exc.error, exc.category)
    except LakeError as exc:
        return _failure(job, exc, _category(exc))
    except OSError as exc:
        return _failure(job, StorageError(f"destination storage failure: {exc.strerror or exc}"), None)


def _failure(job: _Job, error: LakeError, category: ErrorCategory | None) -> dict[str, Any]:
    category = category or ErrorCategory.STORAGE_ERROR
    return {"index": job.index, "path": job.path, "ok": False, "category": category, **_error(error)}


def _error(error: LakeError) -> dict[str, str]:
    return {"code": error.code, "message": error.message}


def _category(error: LakeError) -> ErrorCategory:
    """The category of a failure at the destination (a missing file there is not the source's fault)."""
    if isinstance(error, ChecksumMismatch):
        return ErrorCategory.CHECKSUM_MISMATCH
    if isinstance(error, AlreadyExists):
        return ErrorCategory.DESTINATION_EXISTS
    if isinstance(error, PermissionDenied | Unauthenticated):
        return ErrorCategory.AUTH
    if isinstance(error, Timeout):
        return ErrorCategory.TIMEOUT
    return ErrorCategory.STORAGE_ERROR


class _SourceFailed(Exception):
    def __init__(self, category: ErrorCategory, error: LakeError) -> None:
        super().__init__(error.message)
        self.category, self.error = category, error


async def _pull(ctx: Context, session: aiohttp.ClientSession, entry: PullEntry, job: _Job) -> dict[str, Any]:
    """Authorize the destination path, skip it if already complete, else GET the source into a new file."""
    target = ctx.store.target(entry.path)
    Authorizer.require(job.claims, target.url_path, StorageOp.CREATE)
    ctx.store.check(target)
    try:
        where = decide_destination(job.claims, target, keep=not job.overwrite)
    except AlreadyExists:
        if _complete(target.fs_path, entry):
            return {"bytes": entry.bytes, "adler32": entry.adler32, "existed": True}
        raise
    source = _source_url(entry.source)
    upload = Upload(target.fs_path)
    try:
        source_adler32 = await _fetch(session, source, job.headers, upload.feed)
        if source_adler32 is not None and source_adler32 != entry.adler32:
            raise _SourceFailed(
                ErrorCategory.CHECKSUM_MISMATCH,
                ChecksumMismatch(f"the source's adler32 is {source_adler32}, the catalog's {entry.adler32}"),
            )
        if (size := await upload.received()) != entry.bytes:
            raise ChecksumMismatch(f"received {size} bytes, the catalog says {entry.bytes}")
        adler32 = await upload.commit(entry.bytes, where, expected_adler32=entry.adler32)
    except BaseException:
        await upload.abort()
        raise
    return {"bytes": upload.size, "adler32": adler32, "existed": False}


def _complete(path: Path, entry: PullEntry) -> bool:
    """Whether the file already there is the one wanted (size, then adler32, cached or computed)."""
    with contextlib.suppress(OSError, LakeError):
        return bool(path.stat().st_size == entry.bytes and localfs.file_checksum(path, "adler32") == entry.adler32)
    return False


def _source_url(source: str) -> str:
    parts = urlsplit(source)
    scheme = {"davs": "https", "dav": "http"}.get(parts.scheme, parts.scheme)
    if scheme not in ("http", "https") or not parts.netloc:
        raise InvalidInput("a source must be an http(s) or davs URL")
    return parts._replace(scheme=scheme).geturl()


async def _fetch(
    session: aiohttp.ClientSession, url: str, headers: dict[str, str], feed: Callable[[bytes], Awaitable[None]]
) -> str | None:
    """GET the source into `feed`; returns the adler32 of its `Digest` header, if any."""
    try:
        async with session.get(url, headers=headers) as response:
            if response.status != 200:
                raise _source_refusal(response.status)
            async for chunk in response.content.iter_any():
                await feed(chunk)
            return webdav.parse_digest(response.headers.get("digest", ""), "adler32")
    except (aiohttp.ClientError, TimeoutError) as exc:
        timed_out = isinstance(exc, TimeoutError | aiohttp.ServerTimeoutError)
        category = ErrorCategory.TIMEOUT if timed_out else ErrorCategory.STORAGE_ERROR
        raise _SourceFailed(category, StorageError(f"source: {type(exc).__name__}: {exc}")) from exc


def _source_refusal(status: int) -> _SourceFailed:
    if status == 404:
        return _SourceFailed(ErrorCategory.SOURCE_MISSING, FileNotFoundOnStorage("source: no such file"))
    if status in (401, 403):
        return _SourceFailed(ErrorCategory.AUTH, PermissionDenied(f"source refused the token (HTTP {status})"))
    return _SourceFailed(ErrorCategory.STORAGE_ERROR, StorageError(f"source answered HTTP {status}"))
