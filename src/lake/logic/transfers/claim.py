"""Claiming work: orphaned transfers back to the queue, then QUEUED transfers -> SUBMITTED jobs.

Candidates are this instance's partition of QUEUED transfers whose backoff has passed, by priority (higher
first) then age. Each gets the best source with a direct route and a free link; per-link and per-destination
limits count SUBMITTED transfers of every instance. The claim itself is a compare-and-set
(`WHERE id = :id AND state = 'QUEUED'`) so two instances never run the same transfer; on PostgreSQL the
candidates are also read with FOR UPDATE SKIP LOCKED. A link's limit is the optimizer's (optimizer.py) once it
has decided one. Transfers without sources or any path fail here (without I/O); those needing a hop get one. The
caller commits before any copy starts.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, select

from lake.core.clock import utcnow
from lake.core.models import RSEOut
from lake.core.partition import Partition
from lake.core.replication import ErrorCategory
from lake.db import transfers as transfer_rows
from lake.db.schema_replication import link_limits
from lake.db.transfers import Light, Take, TransferRow
from lake.logic.monitoring.events import event_row, record_many
from lake.logic.transfers import batch, multihop
from lake.logic.transfers.failures import TransferFailed
from lake.logic.transfers.job import Job
from lake.logic.transfers.outcome import fail
from lake.logic.transfers.paths import HTTP_PULL, Route, direct_route, hop_via
from lake.logic.transfers.sources import Source, SourceRanker, Topology, available_replicas

LINK_LIMIT = 4  # per source -> destination until the optimizer decides; RSE attribute max_transfers_per_link
MAX_LINK_LIMIT = 32  # the optimizer's ceiling when no RSE sets max_transfers_per_link (either end, lowest wins)
DEST_LIMIT = 8  # concurrent transfers per destination (RSE attribute max_transfers)
SCAN_FACTOR = 4  # candidates read per wanted job, since some wait for a busy link
SMALL_PER_SLOT = 64  # small files pulled in bulk that together take one slot of a link's or destination's limit
EPSILON = 1e-9  # weighted loads are sums of fractions


def recover_orphans(conn: Connection, partition: Partition, live: Collection[str], me: str | None = None) -> int:
    """SUBMITTED transfers of workers without a live heartbeat go back to the queue (their copy, if it
    finished, is verified and accepted by the next attempt). So do those still held by `me`, the calling worker,
    whatever their partition: called between its iterations, when none of its copies runs, they are copies whose
    outcome an earlier iteration could not record (the database went away), which would otherwise wait forever."""
    orphans = transfer_rows.orphans(conn, partition, live, me)
    now, events = utcnow(), []
    for row in orphans:
        requeued = transfer_rows.requeue_orphan(conn, row, now)
        why = "its outcome was not recorded" if me and row.worker == me else "it has no live heartbeat"
        if requeued:
            events.append(
                event_row(
                    "transfer.requeued",
                    transfer_id=row.id,
                    rule_id=row.rule_id,
                    scope=row.scope,
                    name=row.name,
                    message=f"worker {row.worker}: {why}",
                )
            )
    record_many(conn, events)
    return len(events)


def rse_limit(rses_: Iterable[RSEOut], attribute: str, default: int) -> int:
    """The smallest limit any of these RSEs sets through `attribute`, else the default."""
    found = []
    for rse in rses_:
        with contextlib.suppress(KeyError, TypeError, ValueError):
            found.append(int(rse.attributes[attribute]))
    return min(found, default=default)


def link_limit(source: RSEOut, dest: RSEOut, optimized: int | None) -> int:
    """A link's limit: the optimizer's (see optimizer.py) if it decided one, else LINK_LIMIT or the RSE
    attribute `max_transfers_per_link`; that attribute, when set, is also a ceiling."""
    configured = rse_limit([source, dest], "max_transfers_per_link", LINK_LIMIT)
    ceiling = rse_limit([source, dest], "max_transfers_per_link", MAX_LINK_LIMIT)
    return min(configured if optimized is None else optimized, ceiling)


def light() -> Light:
    """The weight of a small file pulled in bulk on the limits (see `batch.small_pull`)."""
    return Light(HTTP_PULL, batch.SMALL_FILE, 1 / SMALL_PER_SLOT)


def weight(transfer: TransferRow, route: Route) -> float:
    """How much of a slot of the link's and the destination's limits this copy takes."""
    return light().weight if batch.small_pull(transfer, route.mode) else 1.0


@dataclass
class Load:
    """SUBMITTED transfers per link and per destination (small bulk pulls weighted), against their limits."""

    topology: Topology
    links: defaultdict[tuple[str, str], float] = field(default_factory=lambda: defaultdict(float))
    dests: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))
    optimized: dict[tuple[str, str], int] = field(default_factory=dict)

    @classmethod
    def current(cls, conn: Connection, topology: Topology) -> Load:
        k = link_limits.c
        load = cls(topology)
        for (source, dest), count in transfer_rows.submitted_per_link(conn, light()).items():
            load.links[(source, dest)] += count
            load.dests[dest] += count
        limits = select(k.source_rse_id, k.dest_rse_id, k.limit)
        load.optimized = {(source, dest): limit for source, dest, limit in conn.execute(limits)}
        return load

    def dest_full(self, dest: RSEOut, share: float = 1.0) -> bool:
        return self.dests[dest.id] + share > rse_limit([dest], "max_transfers", DEST_LIMIT) + EPSILON

    def link_free(self, source: RSEOut, dest: RSEOut, share: float = 1.0) -> bool:
        key = (source.id, dest.id)
        return self.links[key] + share <= link_limit(source, dest, self.optimized.get(key)) + EPSILON

    def add(self, source: RSEOut, dest: RSEOut, share: float = 1.0) -> None:
        self.links[(source.id, dest.id)] += share
        self.dests[dest.id] += share


def _candidates(conn: Connection, partition: Partition, limit: int) -> list[TransferRow]:
    return transfer_rows.claimable(conn, partition, limit * SCAN_FACTOR)


def _take(conn: Connection, transfer: TransferRow, source: Source, route: Route, worker: str) -> bool:
    """QUEUED -> SUBMITTED for this worker, if nobody else took it first."""
    return transfer_rows.take(conn, transfer.id, Take(worker, source.rse.id, route.mode), utcnow())


def _submitted_event(job: Job) -> dict[str, Any]:
    row = job.transfer
    return event_row(
        "transfer.submitted",
        transfer_id=row.id,
        rule_id=row.rule_id,
        scope=row.scope,
        name=row.name,
        source_rse=job.source_rse,
        dest_rse=job.dest_rse,
        bytes=row.bytes,
        activity=row.activity,
        payload={"mode": job.route.mode, "worker": job.worker, "attempt": row.attempt},
    )


@dataclass
class Claimed:
    """What one claim step did: jobs to run now, and transfers settled without I/O (failed or parked)."""

    jobs: list[Job] = field(default_factory=list)
    settled: int = 0


def claim(conn: Connection, partition: Partition, worker: str, limit: int) -> Claimed:
    """Plan and claim up to `limit` transfers of this partition for `worker`."""
    topology = Topology.load(conn)
    load = Load.current(conn, topology)
    ranker = SourceRanker(conn, topology)
    candidates = _candidates(conn, partition, limit)
    replicas = available_replicas(conn, [(c.scope, c.name) for c in candidates])
    claimed = Claimed()
    for transfer in candidates:
        if len(claimed.jobs) >= limit:
            break
        sources = ranker.rank(transfer, replicas.get((transfer.scope, transfer.name), []))
        _plan(conn, transfer, sources, load, worker, claimed)
    record_many(conn, [_submitted_event(job) for job in claimed.jobs])
    return claimed


def _plan(
    conn: Connection, transfer: TransferRow, sources: list[Source], load: Load, worker: str, claimed: Claimed
) -> None:
    """Claim the transfer on its best free direct route, start a hop, wait for capacity, or fail it."""
    dest = load.topology.rses.get(transfer.dest_rse_id)
    if dest is None or not dest.availability_write:
        why = TransferFailed(ErrorCategory.STORAGE_ERROR, "the destination RSE is not available for writing")
        claimed.settled += fail(conn, transfer, why)
        return
    if load.dest_full(dest, light().weight):
        return
    if not sources:
        why = TransferFailed(ErrorCategory.SOURCE_MISSING, "no AVAILABLE replica on a readable RSE to copy from")
        claimed.settled += fail(conn, transfer, why)
        return
    routed = [(source, route) for source in sources if (route := direct_route(source.rse, dest)) is not None]
    if not routed:
        claimed.settled += _hop_or_fail(conn, transfer, sources, dest, load.topology)
        return
    free = [(s, r, w) for s, r in routed if load.link_free(s.rse, dest, w := weight(transfer, r))]
    if free and not load.dest_full(dest, free[0][2]) and _take(conn, transfer, free[0][0], free[0][1], worker):
        load.add(free[0][0].rse, dest, free[0][2])
        claimed.jobs.append(Job(transfer, free[0][0], free[0][1], worker))


def _hop_or_fail(
    conn: Connection, transfer: TransferRow, sources: list[Source], dest: RSEOut, topology: Topology
) -> bool:
    """Start a hop through the cheapest usable intermediate; wait while one is being filled; else NO_PATH.

    Hops never hop again (their source is pinned), so a path is at most two transfers long.
    """
    excluded: set[str] = set()
    while not transfer.hop_of and (choice := hop_via(sources, dest, topology, frozenset(excluded))) is not None:
        source, inter = choice
        status = multihop.intermediate_status(conn, transfer, inter)
        if status == "free":
            return multihop.start_hop(conn, transfer, source, inter)
        if status == "busy":
            return False
        excluded.add(inter.id)
    names = ", ".join(source.rse.name for source in sources)
    why = TransferFailed(ErrorCategory.NO_PATH, f"no route from {names} to {dest.name}, direct or through one hop")
    return fail(conn, transfer, why)
