"""Just enough raw ASGI for the endpoint: a request wrapper and response helpers (no framework overhead)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from email.utils import formatdate
from typing import Any

import orjson

from lake.core.errors import LakeError, Unauthenticated

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Headers = list[tuple[bytes, bytes]]


class ClientGone(Exception):
    """The client disconnected before the request body was complete."""


class Request:
    """One HTTP request: method, raw path, lower-cased headers; tracks whether the response started."""

    def __init__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.scope = scope
        self.method: str = scope["method"]
        raw = scope.get("raw_path")
        self.raw_path: str = raw.decode("latin-1").split("?", 1)[0] if raw else scope["path"]
        self.headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope["headers"]}
        self._receive = receive
        self._send = send
        self.started = False

    def header(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name, default)

    def supports(self, extension: str) -> bool:
        return extension in (self.scope.get("extensions") or {})

    async def receive_chunk(self) -> tuple[bytes, bool]:
        """The next body chunk and whether more follows; raises ClientGone on disconnect."""
        message = await self._receive()
        if message["type"] == "http.disconnect":
            raise ClientGone()
        return message.get("body", b""), message.get("more_body", False)

    async def start(self, status: int, headers: Headers) -> None:
        self.started = True
        await self._send({"type": "http.response.start", "status": status, "headers": headers})

    async def body(self, data: bytes, more: bool = False) -> None:
        await self._send({"type": "http.response.body", "body": data, "more_body": more})

    async def send_raw(self, message: Message) -> None:
        await self._send(message)

    async def respond(self, status: int, body: bytes = b"", headers: Headers | None = None) -> None:
        """A complete response with Content-Length."""
        all_headers = [(b"content-length", str(len(body)).encode()), *(headers or [])]
        await self.start(status, all_headers)
        await self.body(body)

    async def error(self, exc: LakeError) -> None:
        """Report a Lake error as JSON with its HTTP status (401 also says how to authenticate)."""
        headers: Headers = [(b"content-type", b"application/json")]
        if isinstance(exc, Unauthenticated):
            headers.append((b"www-authenticate", b'Bearer realm="lake"'))
        body = orjson.dumps(exc.to_dict()) if self.method != "HEAD" else b""
        await self.respond(exc.status, body, headers)


def http_date(epoch: float) -> bytes:
    """RFC 7231 date for Last-Modified."""
    return formatdate(epoch, usegmt=True).encode()
