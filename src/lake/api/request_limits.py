"""Limits on what a client may send, checked before any route runs (docs/security.md#limits).

`BodyLimits` is ASGI middleware that reads the whole request body first: a declared `Content-Length` over the
route's limit is refused at once (413, nothing read), a body that grows past it while arriving is refused
(413), and a client that has not sent all of it within `body_timeout` seconds gets 408. Only then does the
route see the body (replayed from memory), so a refused request never reaches the catalog. Bulk routes (file
and DID lists) have a larger limit than the others, and at most `max_items` items (400 TooManyItems).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Iterable
from typing import Any

import orjson
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lake.core.errors import LakeError, PayloadTooLarge, RequestTimeout, TooManyItems
from lake.core.settings import LimitSettings

Render = Callable[[LakeError], Response]

# Routes whose body is a list of files or DIDs (method, path pattern), per dialect.
V1_BULK = (
    ("POST", r"/v1/replicas/register"),
    ("POST", r"/v1/uploads(/complete)?"),
    ("POST", r"/v1/(contents|detach)/.+"),
    ("POST", r"/v1/caches/[^/]+/replicas(/evicted)?"),
)
RUCIO_BULK = (
    ("POST", r"/replicas(/list)?"),
    ("PUT", r"/replicas"),
    ("POST", r"/dids"),
    ("POST", r"/dids/attachments"),
    ("POST", r"/dids/.+/dids"),
    ("POST", r"/rules"),
)


class _TooLarge(Exception):
    pass


class _Gone(Exception):
    pass


class BodyLimits:
    """Read, bound and replay each request body; paths under `skip` are left to another instance (a sub-app)."""

    def __init__(
        self, app: ASGIApp, limits: LimitSettings, render: Render, bulk: Iterable[tuple[str, str]], skip: str = ""
    ) -> None:
        self.app = app
        self.limits = limits
        self.render = render
        self.bulk = [(method, re.compile(pattern)) for method, pattern in bulk]
        self.skip = skip

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or (self.skip and _route(scope).startswith(self.skip)):
            await self.app(scope, receive, send)
            return
        limit = self._limit(scope)
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await self._refuse(scope, receive, send, PayloadTooLarge(_too_large(limit)))
            return
        try:
            body = await asyncio.wait_for(_read(receive, limit), self.limits.body_timeout)
        except _TooLarge:
            await self._refuse(scope, receive, send, PayloadTooLarge(_too_large(limit)))
            return
        except TimeoutError:
            message = f"the request body did not arrive within {self.limits.body_timeout:g} s"
            await self._refuse(scope, receive, send, RequestTimeout(message))
            return
        except _Gone:
            return
        items = count_items(_json(body)) if limit == self.limits.max_bulk_bytes else 0
        if items > self.limits.max_items:
            message = f"{items} items in one call; the limit is {self.limits.max_items}: send them in several calls"
            await self._refuse(scope, receive, send, TooManyItems(message))
            return
        await self.app(scope, _replay(body, receive), send)

    def _limit(self, scope: Scope) -> int:
        route, method = _route(scope), scope["method"]
        if any(method == m and pattern.fullmatch(route) for m, pattern in self.bulk):
            return self.limits.max_bulk_bytes
        return self.limits.max_json_bytes

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, error: LakeError) -> None:
        response = self.render(error)
        response.headers["Connection"] = "close"  # the rest of the body is never read
        await response(scope, receive, send)


def _route(scope: Scope) -> str:
    """The path below the app's mount point."""
    path, root = scope.get("path", ""), scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


def _json(body: bytes) -> Any:
    """The parsed body, or None if it is not JSON (the route then says so in its own words)."""
    try:
        return orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        return None


def _too_large(limit: int) -> str:
    return f"the request body is larger than this route's limit of {limit} bytes"


async def _read(receive: Receive, limit: int) -> bytes:
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Gone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """The body once, then the real channel (a disconnect while the route runs)."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed


def count_items(body: Any, depth: int = 3) -> int:
    """The items of a bulk JSON body: the lengths of its lists, counted down to `depth` levels (attachments
    carry lists of DIDs in a list)."""
    if depth == 0:
        return 0
    values = body if isinstance(body, list) else body.values() if isinstance(body, dict) else ()
    nested = sum(count_items(value, depth - 1) for value in values if isinstance(value, list | dict))
    return (len(body) if isinstance(body, list) else 0) + nested
