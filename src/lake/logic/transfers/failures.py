"""Why a transfer failed: one category per failure, and the sources already tried (kept in the error text).

The error column stays readable for operators: the message, then one line `tried sources: A, B` that only
this module writes and reads, so the next attempt can try the failed sources last.
"""

from __future__ import annotations

import httpx

from lake.core.errors import (
    AlreadyExists,
    ChecksumMismatch,
    FileNotFoundOnStorage,
    LakeError,
    PermissionDenied,
    Timeout,
    Unauthenticated,
)
from lake.core.replication import ErrorCategory

TRIED_PREFIX = "tried sources: "


class TransferFailed(Exception):
    """A categorised transfer failure, raised by the I/O steps and recorded by the outcome step."""

    def __init__(self, category: ErrorCategory, message: str) -> None:
        super().__init__(message)
        self.category = category
        self.message = message


def _timed_out(exc: BaseException) -> bool:
    """A timeout anywhere in the cause chain (backends wrap httpx read timeouts in StorageError)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, Timeout | TimeoutError | httpx.TimeoutException):
            return True
        seen = seen.__cause__
    return False


def categorize(exc: LakeError, at_source: bool = False) -> ErrorCategory:
    """The category of a storage error; a missing file counts as SOURCE_MISSING only at the source."""
    if isinstance(exc, FileNotFoundOnStorage) and at_source:
        return ErrorCategory.SOURCE_MISSING
    if isinstance(exc, ChecksumMismatch):
        return ErrorCategory.CHECKSUM_MISMATCH
    if isinstance(exc, AlreadyExists):
        return ErrorCategory.DESTINATION_EXISTS
    if isinstance(exc, PermissionDenied | Unauthenticated):
        return ErrorCategory.AUTH
    if _timed_out(exc):
        return ErrorCategory.TIMEOUT
    return ErrorCategory.STORAGE_ERROR


def failed(exc: LakeError, what: str, at_source: bool = False) -> TransferFailed:
    return TransferFailed(categorize(exc, at_source), f"{what}: {exc.message}")


def tried_sources(error: str | None) -> list[str]:
    """The RSE names a transfer already failed from, read back from its error text."""
    for line in reversed((error or "").splitlines()):
        if line.startswith(TRIED_PREFIX):
            return [name for name in line[len(TRIED_PREFIX) :].split(", ") if name]
    return []


def error_text(message: str, previous_error: str | None, source: str | None) -> str:
    """The message plus the updated list of failed sources (each once, oldest first)."""
    tried = tried_sources(previous_error)
    if source and source not in tried:
        tried.append(source)
    first_line = message.replace("\n", " ")
    return f"{first_line}\n{TRIED_PREFIX}{', '.join(tried)}" if tried else first_line
