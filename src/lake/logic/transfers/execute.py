"""Running one claimed transfer: narrow tokens, source check, copy (by the route's mode), checksum verification.

No database access here: the caller records the outcome. Tokens cover exactly one path each (read at the
source; create at the destination, read there to verify, modify only to delete a bad file) and are never
logged. Who gets which token per mode:
- `http-pull` and `root-tpc`: the COPY/TPC goes to the destination with its create token; the source's
  read token travels with it (TransferHeaderAuthorization, or the root backend's source token).
- `http-push`: the COPY goes to the source with its read token; the destination's create token travels
  in TransferHeaderAuthorization and authorizes the source's PUT.
- `stream`: each side gets its own token.
Every storage call of a transfer has a bounded stall timeout (STALL_TIMEOUT), so a dead or hung server fails
the transfer, never blocks the worker.

Round trips per small file (http-pull, first attempt): HEAD the source, COPY, one HEAD with Want-Digest for
size and checksum. The destination is not looked at before a first claim: only an earlier attempt or a worker
that died could have written there. Later claims verify and accept an existing file that matches (how a copy
whose worker died completes without a second copy); a first claim meeting a file in the way (the COPY asks
`Overwrite: F`) does the same, or deletes it and copies once more. XrdHttpTPC 5.5.3 pulls only into existing
directories, Lake's endpoint makes them itself: a pull goes without MKCOL until a destination needs one (a
COPY failed, then worked after MKCOL of its directory, with a create token for that one directory); from then
on, for the rest of the iteration, new directories there are made first, each once.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit

from lake.core.errors import FileNotFoundOnStorage, LakeError, Unavailable, UnsupportedOperation
from lake.core.replication import ErrorCategory
from lake.core.scopes import StorageOp
from lake.db.transfers import TransferRow
from lake.logic.auth.issuer import TokenIssuer, storage_audience, storage_path
from lake.logic.transfers.failures import TransferFailed, categorize, failed
from lake.logic.transfers.job import Job
from lake.logic.transfers.paths import HTTP_PULL, HTTP_PUSH, HTTP_SCHEMES, ROOT_SCHEMES, ROOT_TPC, STREAM
from lake.storage import StorageBackend, get_backend
from lake.storage.base import ChecksumAlgorithm
from lake.storage.http import HttpBackend

SUBJECT = "lake-transfer"
STALL_TIMEOUT = 15.0  # seconds without progress (HTTP-TPC perf markers come every 5 s) before a copy fails


class Backends:
    """One storage backend per URL scheme, shared by the copies of an iteration (each uses its own token),
    and what the iteration learnt about destination directories.

    Building an HTTP client costs tens of milliseconds of CPU (TLS context); sharing it keeps many small
    copies cheap. Clients are thread-safe; `close` releases them when the iteration ends.
    """

    def __init__(self) -> None:
        self._by_scheme: dict[str, StorageBackend] = {}
        self._lock = threading.Lock()
        self.directories: set[str] = set()  # destination directory URLs known to exist
        self.mkcol_first: set[str] = set()  # destination origins whose HTTP-TPC pull needs its directory made
        self.no_bulk: set[str] = set()  # destination origins without Lake's bulk pull (see batch.py)

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


@dataclass(frozen=True)
class _Sides:
    """The storage calls of one transfer: the source with its read token, the destination with its create
    token, and the destination with its read token (the checker)."""

    source: StorageBackend
    dest: StorageBackend
    checker: StorageBackend
    read_token: str

    @classmethod
    def open(cls, job: Job, issuer: TokenIssuer, backends: Backends) -> _Sides:
        read_token = mint(issuer, job.source_pfn, StorageOp.READ)
        dest = backends.get(job.dest_pfn, mint(issuer, job.dest_pfn, StorageOp.CREATE))
        checker = dest.with_token(mint(issuer, job.dest_pfn, StorageOp.READ))
        return cls(backends.get(job.source_pfn, read_token), dest, checker, read_token)


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


def first_claim(transfer: TransferRow) -> bool:
    """No attempt failed yet and no worker held it before (requeued orphans keep their `submitted_at`)."""
    return bool(transfer.attempt == 0 and transfer.submitted_at is None)


def run(job: Job, issuer: TokenIssuer, backends: Backends) -> Copied:
    """Copy one file and verify it; raises TransferFailed (a bad destination file is deleted first)."""
    started = time.monotonic()
    sides = _Sides.open(job, issuer, backends)
    _check_source(job, sides.source)
    fresh = first_claim(job.transfer)
    if not fresh and _existing_is_good(job, issuer, sides.checker):
        recovered = True
    else:
        recovered = _place(job, issuer, backends, sides, tries=2 if fresh else 1)
    if not recovered:
        _verify(job, issuer, sides.checker)
    return Copied(job.transfer.bytes, time.monotonic() - started, recovered=recovered)


def _check_source(job: Job, source: StorageBackend) -> None:
    """The source must exist with the catalog's size (a cheap HEAD before any copy)."""
    with _step(f"source {job.source_rse}", at_source=True):
        size = source.stat(job.source_pfn).size
    if size != job.transfer.bytes:
        message = f"source {job.source_rse} has {size} bytes, the catalog {job.transfer.bytes}"
        raise TransferFailed(ErrorCategory.CHECKSUM_MISMATCH, message)


def _place(job: Job, issuer: TokenIssuer, backends: Backends, sides: _Sides, tries: int) -> bool:
    """Copy; returns True when a file already there was accepted instead. A file in the way that does not
    match is deleted, and the copy tried again while `tries` last."""
    for _ in range(tries):
        try:
            _copy(job, issuer, backends, sides)
            return False
        except TransferFailed as failure:
            if failure.category != ErrorCategory.DESTINATION_EXISTS:
                raise
            if _existing_is_good(job, issuer, sides.checker):
                return True
    raise TransferFailed(ErrorCategory.DESTINATION_EXISTS, f"{job.dest_rse}: another file was there")


def _copy(job: Job, issuer: TokenIssuer, backends: Backends, sides: _Sides) -> None:
    """Run the route's mode: a third-party copy (pull, root or push) or streaming through this worker."""
    mode, source, dest = job.route.mode, sides.source, sides.dest
    with _step(f"{mode} {job.source_rse} -> {job.dest_rse}"):
        if mode == HTTP_PULL:
            _pull(job, issuer, backends, sides)
        elif mode == ROOT_TPC:
            dest.third_party_copy(job.source_pfn, job.dest_pfn, source_token=sides.read_token)
        elif mode == HTTP_PUSH:
            if not isinstance(source, HttpBackend):
                raise UnsupportedOperation(f"{job.source_rse}: HTTP-TPC push needs an HTTP source")
            source.third_party_push(job.source_pfn, job.dest_pfn, dest_token=dest.token)
        elif mode == STREAM:
            dest.write(job.dest_pfn, source.read(job.source_pfn), size=job.transfer.bytes)
        else:
            raise UnsupportedOperation(f"unknown transfer mode {mode!r}")


def _pull(job: Job, issuer: TokenIssuer, backends: Backends, sides: _Sides) -> None:
    """HTTP-TPC pull; the directory is made first where this destination needs it and it is not known, else
    only after a failed COPY (then the COPY is tried once more)."""
    parent, origin = job.dest_pfn.rsplit("/", 1)[0], storage_audience(job.dest_pfn)
    made = origin in backends.mkcol_first and parent not in backends.directories and _make_parent(job, issuer, sides)
    try:
        sides.dest.third_party_copy(job.source_pfn, job.dest_pfn, source_token=sides.read_token)
    except LakeError as exc:
        if made or isinstance(exc, Unavailable) or categorize(exc) != ErrorCategory.STORAGE_ERROR:
            raise
        backends.directories.discard(parent)
        if not _make_parent(job, issuer, sides):
            raise
        sides.dest.third_party_copy(job.source_pfn, job.dest_pfn, source_token=sides.read_token)
        backends.mkcol_first.add(origin)
    backends.directories.add(parent)


def _make_parent(job: Job, issuer: TokenIssuer, sides: _Sides) -> bool:
    """MKCOL the destination's directory with a create token for it alone; whether it worked. A refusal is
    left to the COPY, but an unreachable server fails the transfer here."""
    parent = job.dest_pfn.rsplit("/", 1)[0]
    try:
        sides.dest.with_token(mint(issuer, parent, StorageOp.CREATE)).mkdir(parent)
    except LakeError as exc:
        if isinstance(exc, Unavailable) or categorize(exc) == ErrorCategory.TIMEOUT:
            raise
        return False
    return True


def _matches(job: Job, dest: StorageBackend) -> bool:
    """Whether the destination file has the catalog's size and checksum (adler32, else md5); over HTTP both
    come from one HEAD."""
    algorithm: ChecksumAlgorithm = "adler32" if job.transfer.adler32 else "md5"
    expected = job.transfer.adler32 or job.transfer.md5
    if expected and isinstance(dest, HttpBackend):
        size, digest = dest.size_and_checksum(job.dest_pfn, algorithm)
        return size == job.transfer.bytes and digest == expected.lower()
    if dest.stat(job.dest_pfn).size != job.transfer.bytes:
        return False
    return not expected or dest.checksum(job.dest_pfn, algorithm) == expected.lower()


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
