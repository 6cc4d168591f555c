"""Request dependencies: the services, the authenticated caller, and route policy markers."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Annotated, Any

import orjson
from fastapi import Depends, Query, Request
from fastapi.responses import StreamingResponse
from fastapi.security import HTTPBearer
from pydantic import BaseModel
from pydantic_core import to_jsonable_python
from sqlalchemy import Connection

from lake.api.streaming import stream_lines
from lake.core.errors import Unauthenticated
from lake.core.models import BIGINT_MAX
from lake.core.tokens import TokenClaims
from lake.logic.auth import accounts
from lake.logic.auth.permissions import Caller
from lake.logic.services import Services

ADMIN_CACHE_SECONDS = 5.0
# A query argument beyond what the catalog stores is a malformed request, not a database error.
Limit = Annotated[int | None, Query(ge=1, le=BIGINT_MAX, description="at most this many items")]


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


# Only declares the token in the OpenAPI document of every route that needs one: `current_caller` reads the header.
bearer_scheme = HTTPBearer(scheme_name="bearer", bearerFormat="JWT", auto_error=False)


async def current_caller(
    request: Request, svc: ServicesDep, _declared: Annotated[Any, Depends(bearer_scheme)]
) -> Caller:
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
    return stream_lines(svc, produce, _line, "application/x-ndjson")


# Python-mode dumps and orjson's own datetime writer: naive catalog times leave as UTC (`...Z`, RFC 3339), as the
# models' `Timestamp` says, at a quarter of the cost of a JSON-mode dump per line.
_LINE = orjson.OPT_NAIVE_UTC | orjson.OPT_UTC_Z | orjson.OPT_APPEND_NEWLINE


def _line(item: BaseModel) -> bytes:
    return orjson.dumps(item.model_dump(exclude_none=True), default=to_jsonable_python, option=_LINE)


def client_address(request: Request) -> str:
    """The client's address as the ASGI server saw it (behind a proxy: what `--forwarded-allow-ips` trusts)."""
    return request.client.host if request.client else "unknown"
