"""What every request handler needs: the store, the authorizer, the TPC source client."""

from __future__ import annotations

import ssl
from dataclasses import dataclass

import aiohttp
import httpx

from lake.core.errors import AlreadyExists
from lake.core.scopes import StorageOp
from lake.core.tokens import TokenClaims
from lake.endpoint.asgi import Request
from lake.endpoint.auth import Authorizer
from lake.endpoint.store import Store, Target


class PreconditionFailed(AlreadyExists):
    """`If-None-Match: *` or `Overwrite: F` met an existing file (HTTP 412)."""

    status = 412


SESSION_CONNECTIONS = 64  # to all sources together, reused across pulls


class SourceClient:
    """The HTTP clients the endpoint pulls sources with (created in the serving loop, closed at shutdown)."""

    def __init__(self, verify: bool | str = True, timeout: float = 60.0) -> None:
        self._verify = verify
        self._timeout = timeout
        self._client: httpx.AsyncClient | None = None
        self._session: aiohttp.ClientSession | None = None

    def get(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(verify=self._verify, timeout=self._timeout, follow_redirects=True)
        return self._client

    def session(self) -> aiohttp.ClientSession:
        """The bulk pulls' client: aiohttp costs far less per small file than httpx (benchmarks/README.md)."""
        if self._session is None:
            tls: ssl.SSLContext | bool = self._verify if isinstance(self._verify, bool) else _tls(self._verify)
            connector = aiohttp.TCPConnector(limit=SESSION_CONNECTIONS, ssl=tls)
            timeout = aiohttp.ClientTimeout(total=None, connect=self._timeout, sock_read=self._timeout)
            self._session = aiohttp.ClientSession(connector=connector, timeout=timeout, auto_decompress=False)
        return self._session

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
        if self._session is not None:
            await self._session.close()
            self._session = None


def _tls(ca_file: str) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=ca_file)


@dataclass(frozen=True)
class Context:
    store: Store
    authorizer: Authorizer
    sources: SourceClient

    def authorize(self, request: Request, *ops: StorageOp, directory: bool = False) -> tuple[TokenClaims, Target]:
        """The token (401), then a scope granting one of `ops` on the path (403), and only then the disk, so a
        token without rights on a path learns nothing of what is there. `directory` matches as a directory."""
        claims = self.authorizer.claims(request.header("authorization"))
        target = self.store.target(request.raw_path)
        Authorizer.require(claims, target.dir_scope_path if directory else target.url_path, *ops)
        self.store.check(target)
        return claims, target
