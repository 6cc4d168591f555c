"""The one mapping from Lake errors to HTTP responses."""

from __future__ import annotations

import logging
import re

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError, SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException

from lake.api.rucio.errors import RucioError
from lake.api.rucio.errors import error_response as rucio_error_response
from lake.core.errors import DatabaseUnavailable, InvalidInput, LakeError, NotFound
from lake.db.engine import database_error

log = logging.getLogger(__name__)
RUCIO_PATH = re.compile(r"^/rucio(/|$)")


def error_headers(error: LakeError) -> dict[str, str]:
    """`WWW-Authenticate` on 401 (`insufficient_scope` on a scope refusal, RFC 6750), `Retry-After` when known."""
    headers = {"WWW-Authenticate": "Bearer"} if error.status == 401 else {}
    if error.code == "InsufficientScope":
        headers["WWW-Authenticate"] = 'Bearer error="insufficient_scope"'
    if error.retry_after is not None:
        headers["Retry-After"] = str(error.retry_after)
    return headers


def error_response(error: LakeError) -> JSONResponse:
    return JSONResponse(error.to_dict(), status_code=error.status, headers=error_headers(error) or None)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(LakeError)
    async def lake_error(_request: Request, exc: LakeError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def malformed(_request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ())[1:]) or 'body'}: {e.get('msg')}" for e in exc.errors()
        )
        return error_response(InvalidInput(f"malformed request: {problems}"))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404 and RUCIO_PATH.match(request.url.path):
            # Under /rucio but not routed there (Starlette's mount does not match a path holding a newline):
            # Rucio's clients read Rucio's error format.
            return rucio_error_response(RucioError("RucioException", "no such API route", 404))
        if exc.status_code == 404:
            return error_response(NotFound("no such API route"))
        error = LakeError(str(exc.detail))
        # Starlette's own headers kept: a 405 names the allowed methods in `Allow` (RFC 9110 15.5.6).
        return JSONResponse(error.to_dict() | {"code": "HTTPError"}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(OperationalError)
    @app.exception_handler(InterfaceError)
    @app.exception_handler(DisconnectionError)
    async def database_failure(request: Request, exc: SQLAlchemyError) -> JSONResponse:
        """Raw driver errors (code using an engine directly, e.g. streamed listings before their first line):
        an unreachable database is 503 DatabaseUnavailable, a failed statement 503 TemporaryFailure."""
        services = getattr(request.app.state, "services", None)
        error = database_error(exc) if services is None else services.db.translate(exc)
        if error is None:
            log.exception("unexpected database error", exc_info=exc)
            return error_response(LakeError(f"internal error: {type(exc).__name__}"))
        if not isinstance(error, DatabaseUnavailable):  # (an outage is logged once, by the Database)
            log.warning("database operational error (transaction rolled back): %s", getattr(exc, "orig", exc))
        return error_response(error)

    @app.exception_handler(Exception)
    async def unexpected(_request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error", exc_info=exc)
        return error_response(LakeError(f"internal error: {type(exc).__name__}"))
