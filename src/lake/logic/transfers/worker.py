"""One iteration of the transfer worker: recover orphans, claim, copy in a thread pool, record outcomes.

Each step has its own short transaction and the copies run with none open, so a slow transfer never holds
database locks and a worker killed at any point leaves only SUBMITTED rows that the next iteration of a
live instance requeues (their copied files are then verified and accepted, never copied twice).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass

from lake.core.errors import LakeError
from lake.core.partition import Partition
from lake.core.policy import ErrorCategory, TransferState
from lake.logic import heartbeats
from lake.logic.services import Services
from lake.logic.transfers import execute, outcome
from lake.logic.transfers.claim import claim, recover_orphans
from lake.logic.transfers.failures import TransferFailed
from lake.logic.transfers.job import Job

WORKERS = 8  # concurrent copies per instance
BATCH = 2 * WORKERS  # transfers claimed per iteration
KEEPALIVE = 15.0  # seconds between heartbeats while copies run

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WorkerIdentity:
    """Who is working: the daemon name (for heartbeats), this instance, its partition and liveness window."""

    daemon: str
    instance: str
    partition: Partition
    dead_after: float = heartbeats.DEAD_AFTER


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
        try:
            execute.delete_destination(job, services.issuer, backends.get(job.dest_pfn))
        except LakeError as exc:
            log.warning("transfer %s: could not remove the unwanted copy at %s: %s", job.transfer.id, job.dest_rse, exc)
    return result


def _record_failure(services: Services, job: Job, failure: TransferFailed) -> None:
    log.info("transfer %s %s -> %s failed: %s %s", job.transfer.id, job.source_rse, job.dest_rse,
             failure.category.value, failure.message)  # fmt: skip
    with services.db.transaction() as conn:
        outcome.fail(conn, job.transfer, failure, source=job.source_rse, worker=job.worker,
                     state=TransferState.SUBMITTED)  # fmt: skip


def run_jobs(services: Services, jobs: list[Job], keepalive: Callable[[], None]) -> None:
    """Run the jobs WORKERS at a time, calling `keepalive` every KEEPALIVE seconds while any still runs."""
    if not jobs:
        return
    backends = execute.Backends()
    try:
        with ThreadPoolExecutor(max_workers=min(WORKERS, len(jobs)), thread_name_prefix="transfer") as pool:
            pending = {pool.submit(process, services, job, backends) for job in jobs}
            beaten = time.monotonic()
            while pending:
                done, pending = wait(pending, timeout=KEEPALIVE, return_when=FIRST_COMPLETED)
                for future in done:
                    future.result()
                if pending and time.monotonic() - beaten >= KEEPALIVE:
                    keepalive()
                    beaten = time.monotonic()
    finally:
        backends.close()


def iterate(services: Services, me: WorkerIdentity, stopping: Callable[[], bool] = lambda: False) -> bool:
    """One pass over this partition; returns whether anything was requeued, settled or copied."""
    with services.db.transaction() as conn:
        live = {beat.instance for beat in heartbeats.live_instances(conn, me.daemon, me.dead_after)}
        recovered = recover_orphans(conn, me.partition, live | {me.instance})
    if stopping():
        return bool(recovered)
    with services.db.transaction() as conn:
        claimed = claim(conn, me.partition, me.instance, BATCH)

    def keepalive() -> None:
        with services.db.transaction() as conn:
            heartbeats.beat(conn, me.daemon, me.instance, me.dead_after)

    run_jobs(services, claimed.jobs, keepalive)
    return bool(recovered or claimed.settled or claimed.jobs)
