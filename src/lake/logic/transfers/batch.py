"""Small files in batches: the claimed first-attempt HTTP-TPC pulls of small files between the same two endpoints
go as one bulk pull (`lake.storage.bulkpull`), with one token per side for the whole batch.

No database access here: the caller records the outcomes (`outcome.finish_batch`). What is batched:
- a `http-pull` job on its first claim (`execute.first_claim`; a retry or a recovered orphan goes one by one,
  where an existing file is checked and a bad one deleted), not a hop, of at most `SMALL_FILE` bytes, with an
  adler32, to a destination origin not yet known to lack bulk pulls;
- grouped by (source origin, destination origin), at most `MAX_BATCH` files a request.
Tokens: the destination's create token and the source's read token each list the batch's parent directories
(collapsed to their common directory past `MAX_PATH_SCOPES`, see `TokenIssuer.storage_token`), short-lived as
every storage token. The destination verifies each file as it writes it (size and adler32 against the
catalog's, and the source's `Digest`), which counts as verification; the worker still compares what the
destination reports with the catalog before it accepts a file.
A destination that does not offer bulk pulls (`BulkUnsupported`) is remembered for the iteration and its files
are copied one by one; files the stream did not answer for fail with a storage error and are retried.
"""

from __future__ import annotations

import posixpath
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from lake.core.errors import LakeError
from lake.core.replication import ErrorCategory
from lake.core.scopes import StorageOp
from lake.db.transfers import TransferRow
from lake.logic.auth.issuer import TokenIssuer, storage_audience, storage_path
from lake.logic.transfers.execute import SUBJECT, Backends, Copied, first_claim
from lake.logic.transfers.failures import TransferFailed, failed
from lake.logic.transfers.job import Job
from lake.logic.transfers.paths import HTTP_PULL
from lake.storage.bulkpull import BulkUnsupported, PullRequest, PullResult, pull_many
from lake.storage.http import HttpBackend

SMALL_FILE = 4 * 1024 * 1024  # bytes: at most this goes in a bulk pull
MAX_BATCH = 500  # files per bulk pull request (the endpoint takes at most 1,000)

Outcome = Copied | TransferFailed


@dataclass(frozen=True)
class Batch:
    """Jobs sharing a source origin and a destination origin."""

    source: str
    dest: str
    jobs: list[Job]


def small_pull(row: TransferRow, mode: str) -> bool:
    """A first-attempt HTTP-TPC pull of a small file with an adler32, not a hop: what goes in bulk where the
    destination offers it (and weighs less on the limits, see `claim.weight`)."""
    return bool(mode == HTTP_PULL and first_claim(row) and not row.hop_of and row.bytes <= SMALL_FILE and row.adler32)


def batchable(job: Job, backends: Backends) -> bool:
    return small_pull(job.transfer, job.route.mode) and storage_audience(job.dest_pfn) not in backends.no_bulk


def split(jobs: Sequence[Job], backends: Backends) -> tuple[list[Batch], list[Job]]:
    """The batches (by origin pair, at most MAX_BATCH each) and the jobs that go one by one."""
    groups: dict[tuple[str, str], list[Job]] = defaultdict(list)
    single = []
    for job in jobs:
        if batchable(job, backends):
            groups[(storage_audience(job.source_pfn), storage_audience(job.dest_pfn))].append(job)
        else:
            single.append(job)
    batches = [
        Batch(source, dest, members[start : start + MAX_BATCH])
        for (source, dest), members in groups.items()
        for start in range(0, len(members), MAX_BATCH)
    ]
    return batches, single


def directories(pfns: Sequence[str]) -> list[str]:
    """The parent directory of each file, each once: what a batch token lists."""
    return sorted({posixpath.dirname(storage_path(pfn)) or "/" for pfn in pfns})


def run(batch: Batch, issuer: TokenIssuer, backends: Backends) -> list[tuple[Job, Outcome]]:
    """Pull the batch; each job's outcome. Raises BulkUnsupported (remembered in `backends`) when the
    destination does not offer bulk pulls: nothing was copied, the caller copies the jobs one by one."""
    started = time.monotonic()
    dest_pfns = [job.dest_pfn for job in batch.jobs]
    dest_token = issuer.storage_token(SUBJECT, batch.dest, StorageOp.CREATE, directories(dest_pfns))
    source_pfns = [job.source_pfn for job in batch.jobs]
    source_token = issuer.storage_token(SUBJECT, batch.source, StorageOp.READ, directories(source_pfns))
    dest = backends.get(dest_pfns[0], dest_token)
    if not isinstance(dest, HttpBackend):
        raise BulkUnsupported(f"{batch.dest} is not an HTTP endpoint")
    files = [_request(job) for job in batch.jobs]
    outcomes: dict[int, Outcome] = {}
    try:
        for result in pull_many(dest, batch.dest, files, source_token):
            outcomes[result.index] = _outcome(batch.jobs[result.index], result, time.monotonic() - started)
    except BulkUnsupported:
        backends.no_bulk.add(batch.dest)
        raise
    except LakeError as exc:
        broken = failed(exc, f"bulk pull {batch.jobs[0].source_rse} -> {batch.jobs[0].dest_rse}")
        return [(job, outcomes.get(index, broken)) for index, job in enumerate(batch.jobs)]
    unanswered = TransferFailed(ErrorCategory.STORAGE_ERROR, f"{batch.jobs[0].dest_rse}: the bulk pull ended early")
    return [(job, outcomes.get(index, unanswered)) for index, job in enumerate(batch.jobs)]


def _request(job: Job) -> PullRequest:
    return PullRequest(job.source_pfn, storage_path(job.dest_pfn), job.transfer.bytes, job.transfer.adler32 or "")


def _outcome(job: Job, result: PullResult, duration: float) -> Outcome:
    """A done line whose size and adler32 are the catalog's is a verified copy; anything else failed."""
    row = job.transfer
    if not result.ok:
        category = _category(result.category)
        return TransferFailed(category, f"bulk pull {job.source_rse} -> {job.dest_rse}: {result.message}")
    if result.bytes != row.bytes or (result.adler32 or "").lower() != (row.adler32 or "").lower():
        message = f"{job.dest_rse} reports {result.bytes} bytes, adler32 {result.adler32}; the catalog differs"
        return TransferFailed(ErrorCategory.CHECKSUM_MISMATCH, message)
    return Copied(row.bytes, duration, recovered=result.existed)


def _category(name: str | None) -> ErrorCategory:
    try:
        return ErrorCategory(name or ErrorCategory.STORAGE_ERROR.value)
    except ValueError:
        return ErrorCategory.STORAGE_ERROR
