"""Request dependencies: the services, the authenticated caller, and route policy markers."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Annotated, Any

import orjson
from fastapi import Depends, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel
from sqlalchemy import Connection

from lake.core.errors import Unauthenticated
from lake.core.tokens import TokenClaims
from lake.logic.auth import accounts
from lake.logic.auth.policy import Caller
from lake.logic.services import Services

ADMIN_CACHE_SECONDS = 5.0


async def services(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


ServicesDep = Annotated[Services, Depends(services)]


async def public() -> None:
    """Marks a route as deliberately open to anonymous callers (checked by a test over all routes)."""


class _AdminCache:
    """Account -> admin flag for a few seconds, so a GET costs one query, not two."""

    def __init__(self) -> None:
        self._entries: dict[str, tuple[float, bool]] = {}

    def is_admin(self, svc: Services, account: str) -> bool:
        now = time.monotonic()
        hit = self._entries.get(account)
        if hit and now - hit[0] < ADMIN_CACHE_SECONDS:
            return hit[1]
        with svc.db.transaction() as conn:
            accounts.get_account(conn, account)
            admin = accounts.is_admin(conn, account)
        self._entries[account] = (now, admin)
        return admin


admin_cache = _AdminCache()


async def current_caller(request: Request, svc: ServicesDep) -> Caller:
    """The account behind the bearer token; every non-public route depends on this.

    Async on purpose: validation is cached CPU work, so it runs on the loop instead of a thread hop.
    """
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("missing bearer token: log in with `lake login` or POST /v1/auth/token")
    claims = svc.validator.validate(token.strip())
    return caller_of(svc, claims)


def caller_of(svc: Services, claims: TokenClaims) -> Caller:
    """The caller behind validated claims that carry the API scope: Lake's own `sub`, or the account an external
    subject is mapped to (a storage-only token is InsufficientScope, 403)."""
    account = svc.external.api_account(svc.db, claims)
    return Caller(account=account, admin=admin_cache.is_admin(svc, account))


CallerDep = Annotated[Caller, Depends(current_caller)]


def ndjson(svc: Services, produce: Callable[[Connection], Iterator[BaseModel]]) -> StreamingResponse:
    """Stream a listing as NDJSON in constant memory; errors before the first item still become HTTP errors."""
    conn = svc.db.engine.connect().execution_options(stream_results=True, yield_per=2000)
    try:
        items = produce(conn)
        first = next(items, None)
    except BaseException:
        conn.close()
        raise
    return StreamingResponse(_lines(conn, first, items), media_type="application/x-ndjson")


def _lines(conn: Connection, first: Any, items: Iterator[BaseModel]) -> Iterator[bytes]:
    try:
        if first is None:
            return
        batch = [_line(first)]
        for item in items:
            batch.append(_line(item))
            if len(batch) >= 1000:
                yield b"".join(batch)
                batch = []
        yield b"".join(batch)
    finally:
        conn.rollback()
        conn.close()


def _line(item: BaseModel) -> bytes:
    return orjson.dumps(item.model_dump(mode="json", exclude_none=True)) + b"\n"


def client_address(request: Request) -> str:
    """The client's address as the ASGI server saw it (behind a proxy: what `--forwarded-allow-ips` trusts)."""
    return request.client.host if request.client else "unknown"
