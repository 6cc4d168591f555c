"""Lake errors in Rucio's words: exception class names and status codes, mapped once.

The Rucio client raises the exception class named in the body (or the `ExceptionClass` header), so the
names are part of the contract. Permission errors are 401 upstream (the client then re-authenticates and
retries twice before raising `AccessDenied`); Lake keeps that quirk for fidelity.
"""

from __future__ import annotations

import logging

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError, SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException

from lake.core.errors import DatabaseUnavailable, LakeError
from lake.db.engine import database_error

log = logging.getLogger(__name__)

# Lake error code -> (Rucio exception class, HTTP status). Looked up along the error's class hierarchy.
RUCIO_ERRORS: dict[str, tuple[str, int]] = {
    "DIDNotFound": ("DataIdentifierNotFound", 404),
    "ScopeNotFound": ("ScopeNotFound", 404),
    "RSENotFound": ("RSENotFound", 404),
    "RuleNotFound": ("RuleNotFound", 404),
    "AccountNotFound": ("AccountNotFound", 404),
    "ReplicaNotFound": ("ReplicaNotFound", 404),
    "FileNotFoundOnStorage": ("SourceNotFound", 404),
    "NotFound": ("DataIdentifierNotFound", 404),
    "DuplicateDID": ("DataIdentifierAlreadyExists", 409),
    "DuplicateRule": ("DuplicateRule", 409),
    "AlreadyExists": ("Duplicate", 409),
    "InsufficientTargetRSEs": ("InsufficientTargetRSEs", 409),
    "ClosedCollection": ("UnsupportedOperation", 409),
    "UnsupportedOperation": ("UnsupportedOperation", 409),
    "Conflict": ("UnsupportedOperation", 409),
    "QuotaExceeded": ("InsufficientAccountLimit", 409),
    "ChecksumMismatch": ("FileConsistencyMismatch", 412),
    "InvalidRSEExpression": ("InvalidRSEExpression", 400),
    "InvalidFilter": ("DIDFilterSyntaxError", 400),
    "InvalidName": ("InvalidObject", 400),
    "InvalidInput": ("InvalidObject", 400),
    "InsufficientScope": ("AccessDenied", 403),
    "PermissionDenied": ("AccessDenied", 401),
    "PayloadTooLarge": ("InputValidationError", 413),
    "RequestTimeout": ("InputValidationError", 408),
    "TooManyItems": ("InputValidationError", 400),
    "TooManyRequests": ("CannotAuthenticate", 429),
    "Unauthenticated": ("CannotAuthenticate", 401),
    "DatabaseUnavailable": ("DatabaseException", 503),  # Rucio's own name for a failing catalog database
    "TemporaryFailure": ("ServiceUnavailable", 503),
    "LakeError": ("RucioException", 500),
}


class RucioError(Exception):
    """An error already in Rucio's words (class name and status), raised by the dialect itself."""

    def __init__(self, exception_class: str, message: str, status: int, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.exception_class = exception_class
        self.message = message
        self.status = status
        self.retry_after = retry_after

    @classmethod
    def from_lake(cls, error: LakeError) -> RucioError:
        """The Rucio class and status of a Lake error: the nearest mapped code up its class hierarchy."""
        for klass in type(error).__mro__:
            mapped = RUCIO_ERRORS.get(getattr(klass, "code", ""))
            if mapped is not None:
                return cls(mapped[0], error.message, mapped[1], error.retry_after)
        return cls("RucioException", error.message, 500)


def error_response(error: RucioError) -> Response:
    """Body `{"ExceptionClass", "ExceptionMessage"}`, repeated as headers (message cut to 125 characters)."""
    body = orjson.dumps({"ExceptionClass": error.exception_class, "ExceptionMessage": error.message})
    header_message = " ".join(error.message.split())[:125].encode("latin-1", "replace").decode("latin-1")
    headers = {"ExceptionClass": error.exception_class, "ExceptionMessage": header_message}
    if error.retry_after is not None:
        headers["Retry-After"] = str(error.retry_after)
    return Response(body, status_code=error.status, media_type="application/octet-stream", headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    """Every failure of the dialect app leaves as a Rucio error body."""

    @app.exception_handler(RucioError)
    async def rucio_error(_request: Request, exc: RucioError) -> Response:
        return error_response(exc)

    @app.exception_handler(LakeError)
    async def lake_error(_request: Request, exc: LakeError) -> Response:
        return error_response(RucioError.from_lake(exc))

    @app.exception_handler(RequestValidationError)
    async def malformed(_request: Request, exc: RequestValidationError) -> Response:
        problems = "; ".join(f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}" for e in exc.errors())
        return error_response(RucioError("InvalidObject", f"malformed request: {problems}", 400))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> Response:
        name = "MethodNotAllowed" if exc.status_code == 405 else "RucioException"
        response = error_response(RucioError(name, str(exc.detail), exc.status_code))
        response.headers.update(exc.headers or {})  # a 405 names the allowed methods in `Allow` (RFC 9110)
        return response

    @app.exception_handler(OperationalError)
    @app.exception_handler(InterfaceError)
    @app.exception_handler(DisconnectionError)
    async def database_failure(request: Request, exc: SQLAlchemyError) -> Response:
        """Raw driver errors (streamed listings before their first line): 503 when the database is unreachable or a
        statement failed temporarily, else an internal error."""
        services = getattr(request.app.state, "services", None)
        error = database_error(exc) if services is None else services.db.translate(exc)
        if error is None:
            log.exception("unexpected database error in the Rucio dialect", exc_info=exc)
            return error_response(RucioError("RucioException", f"internal error: {type(exc).__name__}", 500))
        if not isinstance(error, DatabaseUnavailable):  # (an outage is logged once, by the Database)
            log.warning("database operational error (transaction rolled back): %s", getattr(exc, "orig", exc))
        return error_response(RucioError.from_lake(error))

    @app.exception_handler(Exception)
    async def unexpected(_request: Request, exc: Exception) -> Response:
        log.exception("unexpected error in the Rucio dialect", exc_info=exc)
        return error_response(RucioError("RucioException", f"internal error: {type(exc).__name__}", 500))
