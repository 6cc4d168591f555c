"""One iteration of the transfer worker: recover orphans, then claim and copy in a thread pool, refilling
free slots with new claims as copies finish, and record outcomes.

Each step has its own short transaction and the copies run with none open, so a slow transfer never holds
database locks and a worker killed at any point leaves only SUBMITTED rows that the next iteration of a
live instance requeues (their copied files are then verified and accepted, never copied twice). An iteration
that ends because the database went away leaves the same rows, held by this worker: its next iteration
requeues them first.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass

from lake.core.errors import LakeError
from lake.core.partition import Partition
from lake.core.replication import ErrorCategory, TransferState
from lake.logic import heartbeats
from lake.logic.services import Services
from lake.logic.transfers import batch, execute, outcome
from lake.logic.transfers.claim import claim, recover_orphans
from lake.logic.transfers.failures import TransferFailed
from lake.logic.transfers.job import Job

WORKERS = 8  # concurrent copies (or bulk pulls) per instance
CLAIM_LIMIT = 500  # transfers claimed per refill, at most: the link and destination limits decide
KEEPALIVE = 15.0  # seconds between heartbeats while copies run
ITERATION_BUDGET = 60.0  # seconds of claiming per iteration, so orphan recovery and partitions stay fresh

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WorkerIdentity:
    """Who is working: the daemon name (for heartbeats), this instance, its partition and liveness window."""

    daemon: str
    instance: str
    partition: Partition
    dead_after: float = heartbeats.DEAD_AFTER


def _one(services: Services, job: Job, backends: execute.Backends) -> list[Job]:
    process(services, job, backends)
    return []


def process(services: Services, job: Job, backends: execute.Backends) -> str:
    """Copy one claimed file with no transaction open, then record the outcome in its own transaction."""
    try:
        copied = execute.run(job, services.issuer, backends)
    except TransferFailed as failure:
        _record_failure(services, job, failure)
        return "failed"
    except Exception:  # a bug must not leave the transfer SUBMITTED until its worker is declared dead
        log.exception("transfer %s: unexpected error", job.transfer.id)
        _record_failure(services, job, TransferFailed(ErrorCategory.STORAGE_ERROR, "unexpected worker error"))
        return "failed"
    with services.db.transaction() as conn:
        result = outcome.finish(conn, job, copied)
    if result == outcome.DISCARD:
        _discard(services, job, backends)
    return result


def process_batch(services: Services, jobs: batch.Batch, backends: execute.Backends) -> list[Job]:
    """Pull a batch with no transaction open, then record every outcome in one transaction. Returns the jobs
    to copy one by one instead: all of them when the destination does not offer bulk pulls."""
    try:
        outcomes = batch.run(jobs, services.issuer, backends)
    except batch.BulkUnsupported:
        return jobs.jobs
    except Exception:  # as in `process`: never leave the batch SUBMITTED until its worker is declared dead
        log.exception("bulk pull %s -> %s: unexpected error", jobs.source, jobs.dest)
        error = TransferFailed(ErrorCategory.STORAGE_ERROR, "unexpected worker error")
        outcomes = [(job, error) for job in jobs.jobs]
    copies = [(job, result) for job, result in outcomes if isinstance(result, execute.Copied)]
    failures = [(job, result) for job, result in outcomes if isinstance(result, TransferFailed)]
    with services.db.transaction() as conn:
        finished = outcome.finish_many(conn, copies) if copies else {}
        for job, failure in failures:
            _log_failure(job, failure)
            outcome.fail(conn, job.transfer, failure, job.source_rse, job.worker, TransferState.SUBMITTED)
    for job, _ in copies:
        if finished.get(job.transfer.id) == outcome.DISCARD:
            _discard(services, job, backends)
    return []


def _discard(services: Services, job: Job, backends: execute.Backends) -> None:
    try:
        execute.delete_destination(job, services.issuer, backends.get(job.dest_pfn))
    except LakeError as exc:
        log.warning("transfer %s: could not remove the unwanted copy at %s: %s", job.transfer.id, job.dest_rse, exc)


def _log_failure(job: Job, failure: TransferFailed) -> None:
    log.info(
        "transfer %s %s -> %s failed: %s %s",
        job.transfer.id,
        job.source_rse,
        job.dest_rse,
        failure.category.value,
        failure.message,
    )


def _record_failure(services: Services, job: Job, failure: TransferFailed) -> None:
    _log_failure(job, failure)
    with services.db.transaction() as conn:
        outcome.fail(
            conn, job.transfer, failure, source=job.source_rse, worker=job.worker, state=TransferState.SUBMITTED
        )


class _Pipeline:
    """Copies running in a pool, refilled by new claims as slots free (no waiting for a whole batch)."""

    def __init__(self, services: Services, me: WorkerIdentity, pool: ThreadPoolExecutor) -> None:
        self.services, self.me, self.pool = services, me, pool
        self.backends = execute.Backends()
        self.pending: set[Future[list[Job]]] = set()
        self.worked = False

    def refill(self) -> None:
        """Claim up to CLAIM_LIMIT transfers (the limits decide how many) and start them: small pulls between
        two endpoints as bulk pulls, the others one copy each."""
        with self.services.db.transaction() as conn:
            claimed = claim(conn, self.me.partition, self.me.instance, CLAIM_LIMIT)
        self.worked |= bool(claimed.settled or claimed.jobs)
        batches, single = batch.split(claimed.jobs, self.backends)
        self.pending |= {self.pool.submit(process_batch, self.services, b, self.backends) for b in batches}
        self.start(single)

    def start(self, jobs: list[Job]) -> None:
        self.pending |= {self.pool.submit(_one, self.services, job, self.backends) for job in jobs}

    def keepalive(self) -> None:
        with self.services.db.transaction() as conn:
            heartbeats.beat(conn, self.me.daemon, self.me.instance, self.me.dead_after)

    def run(self, stopping: Callable[[], bool]) -> None:
        """Refill after every completion until nothing runs or can be claimed, the budget is spent or we stop.

        A claim that finds nothing while copies run is retried after the next completion: the free link
        may be the one a finished copy used.
        """
        started = beaten = time.monotonic()
        while True:
            refilling = not stopping() and time.monotonic() - started < ITERATION_BUDGET
            if refilling and len(self.pending) < WORKERS:
                self.refill()
            if not self.pending:
                return
            done, self.pending = wait(self.pending, timeout=KEEPALIVE, return_when=FIRST_COMPLETED)
            for future in done:
                self.start(future.result())  # a batch the destination could not take goes one by one
            if self.pending and time.monotonic() - beaten >= KEEPALIVE:
                self.keepalive()
                beaten = time.monotonic()


def iterate(services: Services, me: WorkerIdentity, stopping: Callable[[], bool] = lambda: False) -> bool:
    """One pass over this partition; returns whether anything was requeued, settled or copied."""
    with services.db.transaction() as conn:
        live = {beat.instance for beat in heartbeats.live_instances(conn, me.daemon, me.dead_after)}
        recovered = recover_orphans(conn, me.partition, live | {me.instance}, me=me.instance)
    if stopping():
        return bool(recovered)
    with ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="transfer") as pool:
        pipeline = _Pipeline(services, me, pool)
        try:
            pipeline.run(stopping)
        finally:  # on an error (the database went away) the copies under way end first, then their clients close
            wait(pipeline.pending)
            pipeline.backends.close()
    return bool(recovered or pipeline.worked)
