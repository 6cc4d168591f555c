"""The reaper: deletes unlocked, tombstoned replicas from storage and then from the catalog.

Per RSE of this instance's partition (available for deletion): OBSOLETE tombstones always go; older
tombstones (LRU order) only while space is needed (`MinFreeSpace - (total_space - used)` bytes), or all of
them in greedy mode. Each chunk is claimed (BEING_DELETED, a conditional UPDATE, committed), deleted on
storage with no transaction open, then removed from the catalog, or put back to its previous state with a
`deletion.failed` event. A replica locked while being deleted becomes COPYING so its transfer refills it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, exists, select, tuple_

from lake.core.clock import utcnow
from lake.core.errors import (
    FileNotFoundOnStorage,
    LakeError,
    PermissionDenied,
    StorageError,
    Timeout,
    Unauthenticated,
    UnsupportedOperation,
)
from lake.core.models import DIDType
from lake.core.partition import Partition
from lake.core.replication import ErrorCategory
from lake.core.scopes import StorageOp
from lake.core.states import OBSOLETE
from lake.db import replicas as replica_rows
from lake.db import schema as t
from lake.db.replicas import Candidate
from lake.logic.auth.issuer import TokenIssuer, storage_audience, storage_path
from lake.logic.catalog import rses
from lake.logic.catalog.replicas import RSEAccess
from lake.logic.deletion.undertaker import bury_dids
from lake.logic.monitoring.events import event_row, record_many
from lake.logic.services import Services
from lake.storage.registry import get_backend

log = logging.getLogger(__name__)

CHUNK = 100
STALE_AFTER = timedelta(hours=1)  # a BEING_DELETED replica untouched this long was left by a crashed reaper
SUBJECT = "lake-reaper"


@dataclass
class RSEWork:
    """One RSE's deletion job for this iteration: where to delete, and how many bytes still need freeing."""

    access: RSEAccess
    greedy: bool
    budget: int

    def take(self, rows: Sequence[Candidate]) -> list[Candidate]:
        """The leading rows to delete (oldest tombstone first, so OBSOLETE ones come first and always go;
        every deleted byte counts towards the space needed)."""
        taken = []
        for row in rows:
            if row.tombstone != OBSOLETE and not self.greedy and self.budget <= 0:
                break
            self.budget -= row.bytes
            taken.append(row)
        return taken


def reap(
    services: Services,
    partition: Partition,
    greedy: bool = False,
    stop: threading.Event | None = None,
    chunk: int = CHUNK,
) -> int:
    """One reaper pass over this partition's RSEs; returns how many replicas were deleted."""
    with services.db.transaction() as conn:
        jobs = plan(conn, partition, greedy)
    return sum(_reap_rse(services, job, chunk, stop) for job in jobs)


def plan(conn: Connection, partition: Partition, greedy: bool) -> list[RSEWork]:
    """The RSEs this instance reaps: owned, available for deletion, not caches (a cache evicts its own copies
    and reports them), with a delete protocol."""
    jobs = []
    for rse in rses.list_rses(conn):
        if not partition.owns(rse.id) or not rse.availability_delete or rse.volatile:
            continue
        try:
            protocol = rses.best_protocol(rse, "delete")
        except UnsupportedOperation:
            log.warning("reaper: RSE %s has no delete protocol; skipped", rse.name)
            continue
        rse_greedy = greedy or _truthy(rse.attributes.get("greedyDeletion"))
        jobs.append(RSEWork(RSEAccess(rse, protocol), rse_greedy, needed_space(conn, rse.id, rse.attributes)))
    return jobs


def _truthy(value: Any) -> bool:
    return value is True or str(value).strip().lower() in ("true", "1", "yes")


def needed_space(conn: Connection, rse_id: str, attributes: dict[str, Any]) -> int:
    """`MinFreeSpace - (total_space - used)` in bytes (used from the catalog); 0 if either attribute is unset."""
    try:
        min_free, total = float(attributes["MinFreeSpace"]), float(attributes["total_space"])
    except (KeyError, TypeError, ValueError):
        return 0
    used = replica_rows.used_bytes(conn, rse_id)
    return max(0, int(min_free - (total - used)))


def _reap_rse(services: Services, job: RSEWork, chunk: int, stop: threading.Event | None) -> int:
    """Chunk after chunk (a keyset cursor, so failures are not retried in this pass) until done or stopped."""
    cursor: tuple[datetime, str, str] | None = None
    deleted = 0
    while not (stop is not None and stop.is_set()):
        with services.db.transaction() as conn:
            rows = candidates(conn, job.access.rse.id, cursor, chunk)
            taken = job.take(rows)
            claimed = claim(conn, job.access.rse.id, taken)
        if claimed:
            outcomes = delete_on_storage(services.issuer, job.access, claimed)
            with services.db.transaction() as conn:
                deleted += finish(conn, job.access, outcomes)
        if len(rows) < chunk or len(taken) < len(rows):
            break
        cursor = (rows[-1].tombstone, rows[-1].scope, rows[-1].name)
    return deleted


def candidates(conn: Connection, rse_id: str, cursor: tuple[datetime, str, str] | None, chunk: int) -> list[Candidate]:
    """Eligible replicas after the cursor: unlocked, tombstone in the past, not being deleted (unless stale),
    and no transfer still writing them (it would leave dark data behind)."""
    return replica_rows.deletable(conn, rse_id, cursor, chunk, STALE_AFTER)


def claim(conn: Connection, rse_id: str, taken: Sequence[Candidate]) -> list[Candidate]:
    """Mark BEING_DELETED only rows unchanged since they were read (still unlocked); returns those claimed."""
    if not taken:
        return []
    mine = replica_rows.claim_for_deletion(conn, rse_id, taken)
    return [c for c in taken if (c.scope, c.name) in mine]


def delete_on_storage(
    issuer: TokenIssuer, access: RSEAccess, claimed: Sequence[Candidate]
) -> list[tuple[Candidate, LakeError | None]]:
    """Delete each file with a `storage.modify` token for exactly its path; a missing file counts as deleted."""
    outcomes: list[tuple[Candidate, LakeError | None]] = []
    first = access.pfn(claimed[0].scope, claimed[0].name, claimed[0].path)
    with get_backend(first) as backend:
        for c in claimed:
            pfn = access.pfn(c.scope, c.name, c.path)
            token = issuer.storage_token(SUBJECT, storage_audience(pfn), StorageOp.MODIFY, [storage_path(pfn)])
            outcomes.append((c, _delete_one(backend.with_token(token), pfn)))
    return outcomes


def _delete_one(backend: Any, pfn: str) -> LakeError | None:
    try:
        backend.delete(pfn)
    except FileNotFoundOnStorage:
        return None
    except LakeError as error:
        return error
    except Exception as error:  # a backend bug must not leave the replica BEING_DELETED
        log.exception("reaper: unexpected error deleting %s", pfn)
        return StorageError(f"DELETE {pfn}: {type(error).__name__}: {error}")
    return None


def error_category(error: LakeError) -> ErrorCategory:
    if isinstance(error, Unauthenticated | PermissionDenied):
        return ErrorCategory.AUTH
    if isinstance(error, Timeout):
        return ErrorCategory.TIMEOUT
    return ErrorCategory.STORAGE_ERROR


def finish(conn: Connection, access: RSEAccess, outcomes: Sequence[tuple[Candidate, LakeError | None]]) -> int:
    """Catalog side: deleted rows go (expired file DIDs with them), failed rows get their state back."""
    done = [c for c, error in outcomes if error is None]
    failed = [(c, error) for c, error in outcomes if error is not None]
    _remove_rows(conn, access.rse.id, done)
    _restore_rows(conn, access.rse.id, [c for c, _ in failed])
    bury_dids(conn, _expired_orphans(conn, [(c.scope, c.name) for c in done]))
    rse = access.rse.name
    events = [
        event_row("deletion.done", scope=c.scope, name=c.name, bytes=c.bytes, dest_rse=rse, payload={"rse": rse})
        for c in done
    ]
    events += [
        event_row(
            "deletion.failed",
            scope=c.scope,
            name=c.name,
            bytes=c.bytes,
            dest_rse=rse,
            error_category=error_category(e).value,
            message=e.message,
            payload={"rse": rse, "code": e.code},
        )
        for c, e in failed
    ]
    record_many(conn, events)
    return len(done)


def _remove_rows(conn: Connection, rse_id: str, done: Sequence[Candidate]) -> None:
    if done:
        replica_rows.remove_deleted(conn, rse_id, [(c.scope, c.name) for c in done])


def _restore_rows(conn: Connection, rse_id: str, failed: Sequence[Candidate]) -> None:
    if failed:
        replica_rows.restore(conn, rse_id, failed)


def _expired_orphans(conn: Connection, keys: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """Expired file DIDs among `keys` with no replica left anywhere."""
    if not keys:
        return []
    d, r = t.dids.c, t.replicas.c
    query = select(d.scope, d.name).where(
        tuple_(d.scope, d.name).in_(list(keys)),
        d.did_type == DIDType.FILE.value,
        d.expired_at < utcnow(),
        ~exists().where(r.scope == d.scope, r.name == d.name),
    )
    return [(s, n) for s, n in conn.execute(query)]
