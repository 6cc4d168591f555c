"""Helpers for cache tests: a real endpoint as origin, wrapped to count what it sends."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from lake.core.settings import EndpointSettings
from lake.endpoint.asgi import Message, Receive, Scope, Send


@dataclass
class CountingOrigin:
    """The real endpoint app, wrapped to count the GETs and body bytes it answers (the origin's own view)."""

    app: Callable[[Scope, Receive, Send], object]
    gets: int = 0
    bytes_sent: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            with self.lock:
                self.gets += 1

        async def counting_send(message: Message) -> None:
            if message["type"] == "http.response.body":
                with self.lock:
                    self.bytes_sent += len(message.get("body", b""))
            await send(message)

        await self.app(scope, receive, counting_send)  # type: ignore[misc]


@dataclass(frozen=True)
class Origin:
    settings: EndpointSettings
    counter: CountingOrigin

    @property
    def url(self) -> str:
        return self.settings.origin()

    @property
    def root(self) -> Path:
        return self.settings.root
