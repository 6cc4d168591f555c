"""WLCG HTTP third-party copy, pull mode: `COPY` with `Source:`; this endpoint GETs the source itself.

Headers named `TransferHeader<Name>` are forwarded to the source as `<Name>` (so
`TransferHeaderAuthorization: Bearer <source token>` authorizes the GET there). The answer is 202 with a
chunked text body of perf markers and a final `success: Created` or `failure: <reason>` line, as
XrdHttpTPC and dCache do; clients decide from that line. The file is written like a PUT (hidden temp
file, adler32 on the fly, published only when complete) and checked against the source's `Digest`.
"""

from __future__ import annotations

import time
from urllib.parse import urlsplit

import httpx

from lake.core.errors import InvalidInput, LakeError
from lake.core.scopes import StorageOp
from lake.endpoint.asgi import Request
from lake.endpoint.context import Context
from lake.endpoint.objects import destination
from lake.endpoint.store import Target
from lake.endpoint.upload import Destination, Upload
from lake.storage import webdav

PERF_MARKER_INTERVAL = 5.0
_FORWARD_PREFIX = "transferheader"


class PushNotSupported(LakeError):
    code, status = "UnsupportedOperation", 501


def _source_url(request: Request) -> str:
    source = request.header("source")
    if not source:
        raise InvalidInput("COPY needs a Source header")
    parts = urlsplit(source)
    scheme = {"davs": "https", "dav": "http"}.get(parts.scheme, parts.scheme)
    if scheme not in ("http", "https") or not parts.netloc:
        raise InvalidInput("Source must be an http(s) or davs URL")
    return parts._replace(scheme=scheme).geturl()


def _forwarded_headers(request: Request) -> dict[str, str]:
    """TransferHeader<Name>: value -> <Name>: value, plus our wish for the source's adler32. Names go out in
    canonical case (`Authorization`): XrdHttp 5.5.3 matches `http.header2cgi` names case-sensitively."""
    headers = {
        _canonical(name[len(_FORWARD_PREFIX) :]): value
        for name, value in request.headers.items()
        if name.startswith(_FORWARD_PREFIX) and len(name) > len(_FORWARD_PREFIX)
    }
    headers["Want-Digest"] = "adler32"
    return headers


def _canonical(name: str) -> str:
    return "-".join(part.capitalize() for part in name.split("-"))


async def copy(ctx: Context, request: Request) -> None:
    """Authorize the destination, answer 202 at once, then pull and report the outcome in the body."""
    if not request.header("source") and request.header("destination"):
        ctx.authorize(request, StorageOp.READ)  # push would read this file: the token must be allowed to
        raise PushNotSupported("HTTP-TPC push mode is not supported: send COPY with Source: to the destination")
    claims, target = ctx.authorize(request, StorageOp.CREATE)
    source = _source_url(request)
    where = destination(claims, target, request)
    headers = _forwarded_headers(request)
    await request.start(202, [(b"content-type", b"text/plain; charset=utf-8")])
    try:
        transferred = await _pull(ctx.sources.get(), source, headers, target, where, request)
        outcome = webdav.perf_marker(transferred, int(time.time())) + b"success: Created\n"
    except (LakeError, httpx.HTTPError, OSError) as exc:
        outcome = f"failure: {_reason(exc)}\n".encode()
    await request.body(outcome)


def _reason(exc: Exception) -> str:
    if isinstance(exc, LakeError):
        return exc.message
    return f"{type(exc).__name__}: {exc}".replace("\n", " ")


async def _pull(
    client: httpx.AsyncClient,
    source: str,
    headers: dict[str, str],
    target: Target,
    where: Destination,
    request: Request,
) -> int:
    """GET the source into a new upload, sending perf markers; returns the bytes transferred."""
    upload = Upload(target.fs_path)
    try:
        async with client.stream("GET", source, headers=headers) as response:
            if response.status_code != 200:
                raise InvalidInput(f"source answered HTTP {response.status_code}")
            length = response.headers.get("content-length")
            last_marker = time.monotonic()
            async for chunk in response.aiter_bytes():
                await upload.feed(chunk)
                if time.monotonic() - last_marker >= PERF_MARKER_INTERVAL:
                    last_marker = time.monotonic()
                    await request.body(webdav.perf_marker(upload.size, int(time.time())), more=True)
            source_adler32 = webdav.parse_digest(response.headers.get("digest", ""), "adler32")
        await upload.commit(int(length) if length else None, where, expected_adler32=source_adler32)
    except BaseException:
        await upload.abort()
        raise
    return upload.size
