"""The one error hierarchy: every failure Lake reports is a LakeError with a stable code.

Adapters map these to HTTP exactly once (api/errors.py); the client raises the same class from the
code it receives, so callers never parse messages.
"""

from __future__ import annotations

from typing import Any, ClassVar


class LakeError(Exception):
    """Base of every Lake error: a stable `code`, an HTTP `status` and whether a retry may help."""

    code: ClassVar[str] = "LakeError"
    status: ClassVar[int] = 500
    retryable: ClassVar[bool] = False

    def __init__(self, message: str = "", *, retry_after: int | None = None, **details: Any) -> None:
        """`retry_after` (seconds) becomes the `Retry-After` header of the HTTP answer (429, 503)."""
        super().__init__(message or self.code)
        self.message = message or self.code
        self.details = details
        self.retry_after = retry_after

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message, "retryable": self.retryable}
        if self.details:
            body["details"] = self.details
        return body


class InvalidInput(LakeError):
    code, status = "InvalidInput", 400


class InvalidName(InvalidInput):
    code = "InvalidName"


class InvalidRSEExpression(InvalidInput):
    code = "InvalidRSEExpression"


class InvalidFilter(InvalidInput):
    code = "InvalidFilter"


class Unauthenticated(LakeError):
    code, status = "Unauthenticated", 401


class InvalidToken(Unauthenticated):
    code = "InvalidToken"


class PermissionDenied(LakeError):
    code, status = "PermissionDenied", 403


class InsufficientScope(PermissionDenied):
    """A valid token whose scopes do not cover the operation (e.g. a storage-only token on the API)."""

    code = "InsufficientScope"


class NotFound(LakeError):
    code, status = "NotFound", 404


class AccountNotFound(NotFound):
    code = "AccountNotFound"


class ScopeNotFound(NotFound):
    code = "ScopeNotFound"


class DIDNotFound(NotFound):
    code = "DIDNotFound"


class RSENotFound(NotFound):
    code = "RSENotFound"


class ReplicaNotFound(NotFound):
    code = "ReplicaNotFound"


class FileNotFoundOnStorage(NotFound):
    code = "FileNotFoundOnStorage"


class AlreadyExists(LakeError):
    code, status = "AlreadyExists", 409


class DuplicateDID(AlreadyExists):
    code = "DuplicateDID"


class DuplicateRule(AlreadyExists):
    code = "DuplicateRule"


class Conflict(LakeError):
    code, status = "Conflict", 409


class ClosedCollection(Conflict):
    code = "ClosedCollection"


class UnsupportedOperation(Conflict):
    code = "UnsupportedOperation"


class InsufficientTargetRSEs(Conflict):
    code = "InsufficientTargetRSEs"


class RuleNotFound(NotFound):
    code = "RuleNotFound"


class ChecksumMismatch(LakeError):
    code, status = "ChecksumMismatch", 422


class QuotaExceeded(LakeError):
    code, status = "QuotaExceeded", 413


class PayloadTooLarge(InvalidInput):
    """A request body, bulk list or stream beyond the configured limit; nothing of it was written."""

    code, status = "PayloadTooLarge", 413


class TooManyItems(InvalidInput):
    code = "TooManyItems"


class RequestTimeout(InvalidInput):
    """The client sent its request too slowly."""

    code, status = "RequestTimeout", 408


class TooManyRequests(LakeError):
    """Throttled (e.g. repeated failed logins); retry after `retry_after` seconds."""

    code, status, retryable = "TooManyRequests", 429, True


class TemporaryFailure(LakeError):
    code, status, retryable = "TemporaryFailure", 503, True


class Timeout(TemporaryFailure):
    code, status = "Timeout", 504


class Unavailable(TemporaryFailure):
    code = "Unavailable"


class DatabaseUnavailable(Unavailable):
    """The catalog database cannot be reached (down, restarting, connection lost): the unit of work was rolled
    back; retry after `retry_after` seconds. Its own code, so daemons back off instead of failing an iteration."""

    code = "DatabaseUnavailable"


class StorageError(TemporaryFailure):
    code, status = "StorageError", 502


ERRORS_BY_CODE: dict[str, type[LakeError]] = {}


def _register(cls: type[LakeError]) -> None:
    ERRORS_BY_CODE[cls.code] = cls
    for sub in cls.__subclasses__():
        _register(sub)


_register(LakeError)


def error_from_dict(body: dict[str, Any], status: int = 500) -> LakeError:
    """Rebuild the LakeError a server reported (used by the client)."""
    cls = ERRORS_BY_CODE.get(str(body.get("code")), LakeError)
    return cls(str(body.get("message", "")), **(body.get("details") or {}))
