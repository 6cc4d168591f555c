"""Running one claimed transfer: narrow tokens, source check, copy (by the route's mode), checksum verification.

No database access here: the caller records the outcome. Tokens cover exactly one path each (read at the
source; create at the destination, read there to verify, modify only to delete a bad file) and are never
logged. Who gets which token per mode:
- `http-pull` and `root-tpc`: the COPY/TPC goes to the destination with its create token; the source's
  read token travels with it (TransferHeaderAuthorization, or the root backend's source token).
- `http-push`: the COPY goes to the source with its read token; the destination's create token travels
  in TransferHeaderAuthorization and authorizes the source's PUT.
- `stream`: each side gets its own token.
Before an HTTP pull the destination's parent directory is created (MKCOL) with a create token for that one
directory: XrdHttpTPC 5.5.3 pulls only into existing directories. Every storage call of a transfer has a
bounded stall timeout (STALL_TIMEOUT), so a dead or hung server fails the transfer, never blocks the worker.
A destination file that already exists is verified and accepted when it matches, which is how a transfer
whose worker died after copying completes without a second copy.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit

from lake.core.errors import AlreadyExists, FileNotFoundOnStorage, LakeError, Unavailable, UnsupportedOperation
from lake.core.policy import ErrorCategory
from lake.core.scopes import StorageOp
from lake.logic.auth.issuer import TokenIssuer, storage_audience, storage_path
from lake.logic.transfers.failures import TransferFailed, categorize, failed
from lake.logic.transfers.job import Job
from lake.logic.transfers.paths import HTTP_PULL, HTTP_PUSH, HTTP_SCHEMES, ROOT_SCHEMES, ROOT_TPC, STREAM
from lake.storage import StorageBackend, get_backend
from lake.storage.http import HttpBackend

SUBJECT = "lake-transfer"
STALL_TIMEOUT = 15.0  # seconds without progress (HTTP-TPC perf markers come every 5 s) before a copy fails


class Backends:
    """One storage backend per URL scheme, shared by the copies of an iteration (each uses its own token).

    Building an HTTP client costs tens of milliseconds of CPU (TLS context); sharing it keeps many small
    copies cheap. Clients are thread-safe; `close` releases them when the iteration ends.
    """

    def __init__(self) -> None:
        self._by_scheme: dict[str, StorageBackend] = {}
        self._lock = threading.Lock()

    def get(self, url: str, token: str | None = None) -> StorageBackend:
        scheme = urlsplit(url).scheme.lower()
        with self._lock:
            if scheme not in self._by_scheme:
                self._by_scheme[scheme] = get_backend(url, **_options(scheme))
            return self._by_scheme[scheme].with_token(token)

    def close(self) -> None:
        with self._lock:
            for backend in self._by_scheme.values():
                backend.close()
            self._by_scheme.clear()


def _options(scheme: str) -> dict[str, object]:
    """Backend options for transfers: network backends get the bounded stall timeout."""
    return {"timeout": STALL_TIMEOUT} if scheme in HTTP_SCHEMES | ROOT_SCHEMES else {}


@dataclass(frozen=True)
class Copied:
    """A verified destination file: bytes, seconds spent, and whether an existing file was accepted."""

    bytes: int
    duration: float
    recovered: bool = False


def mint(issuer: TokenIssuer, pfn: str, op: StorageOp) -> str:
    """A storage token for exactly this file, for the endpoint serving it."""
    return issuer.storage_token(SUBJECT, storage_audience(pfn), op, [storage_path(pfn)])


@contextmanager
def _step(what: str, at_source: bool = False) -> Iterator[None]:
    """Turn a storage error raised in this step into a categorised TransferFailed."""
    try:
        yield
    except LakeError as exc:
        raise failed(exc, what, at_source) from exc


def run(job: Job, issuer: TokenIssuer, backends: Backends) -> Copied:
    """Copy one file and verify it; raises TransferFailed (a bad destination file is deleted first)."""
    started = time.monotonic()
    read_token = mint(issuer, job.source_pfn, StorageOp.READ)
    source = backends.get(job.source_pfn, read_token)
    dest = backends.get(job.dest_pfn, mint(issuer, job.dest_pfn, StorageOp.CREATE))
    checker = dest.with_token(mint(issuer, job.dest_pfn, StorageOp.READ))
    _check_source(job, source)
    if _existing_is_good(job, issuer, checker):
        return Copied(job.transfer.bytes, time.monotonic() - started, recovered=True)
    try:
        _copy(job, issuer, source, dest, read_token)
    except AlreadyExists as exc:
        if _existing_is_good(job, issuer, checker):
            return Copied(job.transfer.bytes, time.monotonic() - started, recovered=True)
        raise TransferFailed(ErrorCategory.DESTINATION_EXISTS, f"{job.dest_rse}: another file was there") from exc
    _verify(job, issuer, checker)
    return Copied(job.transfer.bytes, time.monotonic() - started)


def _check_source(job: Job, source: StorageBackend) -> None:
    """The source must exist with the catalog's size (a cheap HEAD before any copy)."""
    with _step(f"source {job.source_rse}", at_source=True):
        size = source.stat(job.source_pfn).size
    if size != job.transfer.bytes:
        message = f"source {job.source_rse} has {size} bytes, the catalog {job.transfer.bytes}"
        raise TransferFailed(ErrorCategory.CHECKSUM_MISMATCH, message)


def _copy(job: Job, issuer: TokenIssuer, source: StorageBackend, dest: StorageBackend, read_token: str) -> None:
    """Run the route's mode: a third-party copy (pull, root or push) or streaming through this worker."""
    mode = job.route.mode
    with _step(f"{mode} {job.source_rse} -> {job.dest_rse}"):
        if mode == HTTP_PULL:
            _make_parent(job, issuer, dest)
            dest.third_party_copy(job.source_pfn, job.dest_pfn, source_token=read_token)
        elif mode == ROOT_TPC:
            dest.third_party_copy(job.source_pfn, job.dest_pfn, source_token=read_token)
        elif mode == HTTP_PUSH:
            if not isinstance(source, HttpBackend):
                raise UnsupportedOperation(f"{job.source_rse}: HTTP-TPC push needs an HTTP source")
            source.third_party_push(job.source_pfn, job.dest_pfn, dest_token=dest.token)
        elif mode == STREAM:
            dest.write(job.dest_pfn, source.read(job.source_pfn), size=job.transfer.bytes)
        else:
            raise UnsupportedOperation(f"unknown transfer mode {mode!r}")


def _make_parent(job: Job, issuer: TokenIssuer, dest: StorageBackend) -> None:
    """MKCOL the destination's directory with a create token for it alone; a refusal is left to the COPY
    (Lake's endpoint creates parents itself), but an unreachable server fails the transfer here."""
    parent = job.dest_pfn.rsplit("/", 1)[0]
    try:
        dest.with_token(mint(issuer, parent, StorageOp.CREATE)).mkdir(parent)
    except LakeError as exc:
        if isinstance(exc, Unavailable) or categorize(exc) == ErrorCategory.TIMEOUT:
            raise


def _matches(job: Job, dest: StorageBackend) -> bool:
    """Whether the destination file has the catalog's size and checksum (adler32, else md5)."""
    if dest.stat(job.dest_pfn).size != job.transfer.bytes:
        return False
    if job.transfer.adler32:
        return dest.checksum(job.dest_pfn, "adler32") == job.transfer.adler32.lower()
    if job.transfer.md5:
        return dest.checksum(job.dest_pfn, "md5") == job.transfer.md5.lower()
    return True


def _existing_is_good(job: Job, issuer: TokenIssuer, dest: StorageBackend) -> bool:
    """An existing destination file that matches is accepted; one that does not is deleted."""
    with _step(f"destination {job.dest_rse}"):
        try:
            if _matches(job, dest):
                return True
        except FileNotFoundOnStorage:
            return False
        delete_destination(job, issuer, dest)
    return False


def _verify(job: Job, issuer: TokenIssuer, dest: StorageBackend) -> None:
    with _step(f"verify {job.dest_rse}"):
        good = _matches(job, dest)
        if not good:
            delete_destination(job, issuer, dest)
    if not good:
        message = f"{job.dest_rse}: size or checksum differs from the catalog (deleted)"
        raise TransferFailed(ErrorCategory.CHECKSUM_MISMATCH, message)


def delete_destination(job: Job, issuer: TokenIssuer, dest: StorageBackend) -> None:
    """Remove the destination file with a storage.modify token (a file already gone is fine)."""
    with contextlib.suppress(FileNotFoundOnStorage):
        dest.with_token(mint(issuer, job.dest_pfn, StorageOp.MODIFY)).delete(job.dest_pfn)
