"""The storage side of upload completion: size and adler32 of many files checked in parallel, no database.

A bounded thread pool shares one backend (its HTTP client and TLS context) for the whole completion; each
file gets its own token covering only its path. A file that does not match is deleted from storage.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from lake.core.errors import ChecksumMismatch, LakeError
from lake.db.bulk import Key
from lake.storage import StorageBackend, get_backend

WORKERS = 16  # concurrent storage checks per completion: HEAD + digest requests, mostly waiting on the server

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Expected:
    """One uploaded file as the catalog describes it: where it should be and what it should contain."""

    scope: str
    name: str
    pfn: str
    bytes: int | None
    adler32: str | None

    @property
    def key(self) -> Key:
        return (self.scope, self.name)


def verify_on_storage(files: Sequence[Expected], mint: Callable[[str], str], where: str) -> dict[Key, LakeError]:
    """Check files of one RSE (`where`) in parallel; the errors of those that failed, by key."""
    if not files:
        return {}
    try:
        shared = get_backend(files[0].pfn)
    except LakeError as error:
        return {f.key: error for f in files}
    try:
        with ThreadPoolExecutor(min(WORKERS, len(files)), thread_name_prefix="upload-check") as pool:
            outcomes = pool.map(lambda f: _check(shared, mint, f, where), files)
            return {key: error for key, error in outcomes if error is not None}
    finally:
        shared.close()


def _check(
    shared: StorageBackend, mint: Callable[[str], str], expected: Expected, where: str
) -> tuple[Key, LakeError | None]:
    """Size, then adler32; a mismatching file is deleted so that a retry starts clean."""
    try:
        backend = shared.with_token(mint(expected.pfn))
        size = backend.stat(expected.pfn).size
        adler32 = backend.checksum(expected.pfn, "adler32")
        if size != expected.bytes or adler32 != expected.adler32:
            _discard(backend, expected.pfn)
            raise ChecksumMismatch(
                f"'{expected.scope}:{expected.name}' on {where}: storage has {size} bytes / adler32 {adler32}, "
                f"expected {expected.bytes} / {expected.adler32}"
            )
    except LakeError as error:
        return expected.key, error
    return expected.key, None


def _discard(backend: StorageBackend, pfn: str) -> None:
    try:
        backend.delete(pfn)
    except LakeError as exc:
        log.warning("could not delete bad upload %s: %s", pfn, exc)
