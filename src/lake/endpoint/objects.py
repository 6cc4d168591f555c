"""GET/HEAD (ranged, large zero-overhead reads, RFC 3230 digests) and streaming PUT."""

from __future__ import annotations

import asyncio
import os
import re

from lake.core.errors import Conflict, InvalidInput, LakeError, PermissionDenied
from lake.core.scopes import StorageOp
from lake.core.tokens import TokenClaims
from lake.endpoint.asgi import ClientGone, Headers, Request, http_date
from lake.endpoint.auth import STAT_OPS, Authorizer
from lake.endpoint.context import Context, PreconditionFailed
from lake.endpoint.store import Target, is_dir, require_existing, stat_or_none
from lake.endpoint.upload import Destination, Upload
from lake.storage import localfs, webdav

READ_CHUNK = 4 * 1024 * 1024
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


class RangeNotSatisfiable(LakeError):
    code, status = "RangeNotSatisfiable", 416


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """A single byte range as (start, end inclusive); None means the whole file (no or unusable header)."""
    match = _RANGE.match(header.replace(" ", "")) if header else None
    if match is None or (not match[1] and not match[2]):
        return None
    if not match[1]:
        suffix = int(match[2])
        if suffix == 0:
            raise RangeNotSatisfiable("empty suffix range")
        return max(0, size - suffix), size - 1
    start = int(match[1])
    end = min(int(match[2]), size - 1) if match[2] else size - 1
    if start >= size or end < start:
        raise RangeNotSatisfiable(f"range starts beyond {size} bytes", size=size)
    return start, end


async def digest_header(request: Request, target: Target) -> Headers:
    """`Digest:` for the algorithms asked in `Want-Digest` (cached in xattrs, else computed off-loop)."""
    items = []
    for algorithm in webdav.wanted_digests(request.header("want-digest")):
        if algorithm not in ("adler32", "md5"):
            continue
        value = localfs.cached_checksum(target.fs_path, algorithm)
        if value is None:
            value = await asyncio.to_thread(localfs.file_checksum, target.fs_path, algorithm)
        items.append(webdav.format_digest(algorithm, value))
    return [(b"digest", ",".join(items).encode())] if items else []


async def get(ctx: Context, request: Request) -> None:
    """GET and HEAD: HEAD needs any storage scope (stat), GET needs storage.read."""
    head = request.method == "HEAD"
    _claims, target = ctx.authorize(request, *(STAT_OPS if head else (StorageOp.READ,)))
    info = require_existing(target.fs_path)
    if is_dir(info):
        if not head:
            raise Conflict("is a directory; use PROPFIND to list it")
        await request.respond(200, headers=[(b"content-type", b"httpd/unix-directory")])
        return
    headers: Headers = [
        (b"content-type", b"application/octet-stream"),
        (b"accept-ranges", b"bytes"),
        (b"last-modified", http_date(info.st_mtime)),
        *await digest_header(request, target),
    ]
    try:
        byte_range = parse_range(request.header("range"), info.st_size)
    except RangeNotSatisfiable:
        await request.respond(416, headers=[(b"content-range", f"bytes */{info.st_size}".encode())])
        return
    start, end = byte_range or (0, info.st_size - 1)
    if byte_range is not None:
        headers.append((b"content-range", f"bytes {start}-{end}/{info.st_size}".encode()))
    headers.append((b"content-length", str(end - start + 1).encode()))
    await request.start(206 if byte_range else 200, headers)
    if head:
        await request.body(b"")
    elif byte_range is None and request.supports("http.response.pathsend"):
        await request.send_raw({"type": "http.response.pathsend", "path": str(target.fs_path)})
    else:
        await _send_file(request, target, start, end - start + 1)


async def _send_file(request: Request, target: Target, offset: int, length: int) -> None:
    """Stream a byte range in large reads (the ASGI server has no zero-copy path)."""
    if length == 0:
        await request.body(b"")
        return
    fd = os.open(target.fs_path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        while length > 0:
            data = os.pread(fd, min(READ_CHUNK, length), offset)
            if not data:
                raise ConnectionAbortedError("file shrank while being sent")
            offset += len(data)
            length -= len(data)
            await request.body(data, more=length > 0)
    finally:
        os.close(fd)


def destination(claims: TokenClaims, target: Target, request: Request) -> Destination:
    """What a PUT or pull may do at `target`, once the token may write there (storage.create, which
    storage.modify grants): only storage.modify overwrites (else 403); `If-None-Match: *` or `Overwrite: F`
    keep an existing file (412)."""
    keep = request.header("if-none-match") == "*" or (request.header("overwrite") or "T").upper() == "F"
    return decide_destination(claims, target, keep)


def decide_destination(claims: TokenClaims, target: Target, keep: bool) -> Destination:
    """`destination` once the headers are read: `keep` an existing file (412), else replace it if allowed."""
    info = stat_or_none(target.fs_path)
    if info is not None and is_dir(info):
        raise Conflict("a directory has this name")
    refusal: LakeError = PreconditionFailed("the file exists")
    if not keep:
        refusal = PermissionDenied("the file exists and storage.create may not overwrite it: storage.modify may")
    replace = not keep and Authorizer.allows(claims, target.url_path, StorageOp.MODIFY)
    if info is not None and not replace:
        raise refusal
    return Destination(existed=info is not None, replace=replace, refusal=refusal)


async def put(ctx: Context, request: Request) -> None:
    """Stream the body into a hidden file; publish it only if complete and of the announced size."""
    claims, target = ctx.authorize(request, StorageOp.CREATE)
    where = destination(claims, target, request)
    length = request.header("content-length")
    if length is not None and not length.isdigit():
        raise InvalidInput("bad Content-Length")
    upload = Upload(target.fs_path)
    try:
        more = True
        while more:
            data, more = await request.receive_chunk()
            if data:
                await upload.feed(data)
        adler32 = await upload.commit(int(length) if length else None, where)
    except ClientGone:
        await upload.abort()
        return
    except BaseException:
        await upload.abort()
        raise
    headers = [(b"digest", f"adler32={adler32}".encode())]
    await request.respond(204 if where.existed else 201, headers=headers)
