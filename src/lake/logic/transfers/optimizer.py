"""Per-link adaptive concurrency (the FTS optimizer role): how many transfers each link may run at once.

A decision reads the link's window (since its last decision, at most MAX_WINDOW back; WINDOW for a link never
decided): the transfers DONE in it (their bytes over the time during which at least one of them ran give the
throughput in bytes/s and files/s), the failed attempts (`transfer.failed` events naming both ends: an attempt
with retries left goes back to QUEUED, so the transfers table forgets it) and the peak number of transfers
running at once (DONE in the window or still SUBMITTED), which says whether the link used its whole limit.

The rule, for each link that finished something in its window, starting from LINK_LIMIT (or the RSE
attribute `max_transfers_per_link`):
1. success rate below SUCCESS_FLOOR -> halve the limit (at least MIN_LINK_LIMIT);
2. the link never reached its limit -> hold: more concurrency cannot help a link that did not use it;
3. no earlier throughput to compare with (first decision) -> probe one step up;
4. throughput more than GAIN above the last decision's -> one step up (x1.5, at least +1);
5. throughput more than GAIN below the last decision's, after an increase -> step back to the limit before;
6. otherwise hold.
Steps up stop at the ceiling: `max_transfers_per_link` of either end if set, else MAX_LINK_LIMIT. Latency-bound
links (root TPC) climb while each step still pays; CPU- or bandwidth-bound links settle where it stops.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, delete, insert, select, tuple_

from lake.core.clock import utcnow
from lake.core.monitoring import LinkLimitOut
from lake.core.partition import Partition
from lake.core.replication import TransferState
from lake.db.schema_replication import link_limits, transfers
from lake.logic.monitoring.events import event_row, link_times, record_many
from lake.logic.transfers.claim import MAX_LINK_LIMIT, link_limit, rse_limit
from lake.logic.transfers.sources import Topology

WINDOW = timedelta(seconds=60)  # looked at for a link's first decision
MAX_WINDOW = timedelta(seconds=300)  # never further back, however long ago the last decision was
MIN_SPACING = timedelta(seconds=20)  # a link decided more recently waits: its window is too short to judge
SUCCESS_FLOOR = 0.9
GAIN = 0.1  # a throughput change smaller than this share is noise
MIN_LINK_LIMIT = 1

Link = tuple[str, str]  # (source RSE id, destination RSE id)
Span = tuple[datetime, datetime]


@dataclass
class Window:
    """What one link did in its window: outcomes, bytes, and when its transfers ran."""

    successes: int = 0
    failures: int = 0
    bytes: int = 0
    done: list[Span] = field(default_factory=list)
    running: list[Span] = field(default_factory=list)

    @property
    def success_rate(self) -> float:
        return self.successes / max(1, self.successes + self.failures)

    @property
    def busy(self) -> float:
        """Seconds during which at least one of the DONE transfers ran (their spans' union)."""
        total, reach = 0.0, None
        for start, end in sorted(self.done):
            if reach is None or start > reach:
                total, reach = total + (end - start).total_seconds(), end
            elif end > reach:
                total, reach = total + (end - reach).total_seconds(), end
        return total

    @property
    def throughput(self) -> float:
        return self.bytes / self.busy if self.busy > 0 else 0.0

    @property
    def files(self) -> float:
        return self.successes / self.busy if self.busy > 0 else 0.0

    @property
    def peak(self) -> int:
        """The most transfers running at once (a transfer ending when another starts does not overlap it)."""
        edges = sorted(
            [(start, 1) for start, _ in self.done + self.running] + [(end, -1) for _, end in self.done + self.running]
        )
        running = most = 0
        for _, step in edges:
            running += step
            most = max(most, running)
        return most


@dataclass(frozen=True)
class Decision:
    """A link's new limit, the old one, why, and what it saw."""

    link: Link
    old: int
    new: int
    reason: str
    window: Window


def _grow(limit: int, ceiling: int) -> int:
    return min(ceiling, max(limit + 1, math.ceil(limit * 1.5)))


def decide(old: int, ceiling: int, before: Any | None, seen: Window) -> tuple[int, str]:
    """The rule of the module docstring: (new limit, reason) from the last decision's row and this window."""
    if seen.success_rate < SUCCESS_FLOOR:
        return max(MIN_LINK_LIMIT, old // 2), "failures"
    if seen.peak < old:
        return old, "not saturated"
    if before is None:
        return _grow(old, ceiling), "probe" if old < ceiling else "at the ceiling"
    change = (seen.throughput - before.throughput) / before.throughput if before.throughput > 0 else math.inf
    if change > GAIN:
        return _grow(old, ceiling), "throughput up" if old < ceiling else "at the ceiling"
    if change < -GAIN and before.previous_limit is not None and before.previous_limit < old:
        return before.previous_limit, "throughput down after an increase"
    return old, "hold"


def _windows(conn: Connection, now: datetime, starts: dict[Link, datetime], topology: Topology) -> dict[Link, Window]:
    """Each link's window since its start (links absent from `starts` look back WINDOW)."""
    x = transfers.c
    seen: dict[Link, Window] = {}

    def window(link: Link, at: datetime) -> Window | None:
        return seen.setdefault(link, Window()) if at > starts.get(link, now - WINDOW) else None

    done = select(x.source_rse_id, x.dest_rse_id, x.bytes, x.submitted_at, x.finished_at).where(
        x.state == TransferState.DONE.value, x.finished_at >= now - MAX_WINDOW, x.source_rse_id.is_not(None)
    )
    for row in conn.execute(done):
        if (found := window((row.source_rse_id, row.dest_rse_id), row.finished_at)) is not None:
            found.successes, found.bytes = found.successes + 1, found.bytes + row.bytes
            found.done.append((row.submitted_at or row.finished_at, row.finished_at))
    ids = {rse.name: rse.id for rse in topology.rses.values()}
    for source, dest, at in link_times(conn, "transfer.failed", now - MAX_WINDOW):
        if source in ids and dest in ids and (found := window((ids[source], ids[dest]), at)) is not None:
            found.failures += 1
    running = select(x.source_rse_id, x.dest_rse_id, x.submitted_at).where(x.state == TransferState.SUBMITTED.value)
    for job in conn.execute(running):
        if (link := (job.source_rse_id, job.dest_rse_id)) in seen and job.submitted_at is not None:
            seen[link].running.append((job.submitted_at, now))
    return seen


def optimize(conn: Connection, partition: Partition = Partition()) -> list[Decision]:
    """Decide the limit of every link of this partition that finished something since its last decision."""
    now = utcnow()
    topology = Topology.load(conn)
    rows = {(row.source_rse_id, row.dest_rse_id): row for row in conn.execute(select(link_limits))}
    starts = {link: max(row.decided_at, now - MAX_WINDOW) for link, row in rows.items()}
    decisions = []
    for link, seen in sorted(_windows(conn, now, starts, topology).items()):
        source, dest = topology.rses.get(link[0]), topology.rses.get(link[1])
        before = rows.get(link)
        if source is None or dest is None or not partition.owns(":".join(link)):
            continue
        if before is not None and now - before.decided_at < MIN_SPACING:
            continue
        old = link_limit(source, dest, before.limit if before else None)
        new, reason = decide(old, rse_limit([source, dest], "max_transfers_per_link", MAX_LINK_LIMIT), before, seen)
        decisions.append(Decision(link, old, new, reason, seen))
    _save(conn, now, decisions, rows, topology)
    return decisions


def _save(
    conn: Connection, now: datetime, decisions: list[Decision], rows: dict[Link, Any], topology: Topology
) -> None:
    """Replace the decided links' rows and record one `link.limit` event per decision."""
    if not decisions:
        return
    k = link_limits.c  # a small table (one row per link): a row-value IN is fine here
    conn.execute(delete(link_limits).where(tuple_(k.source_rse_id, k.dest_rse_id).in_([d.link for d in decisions])))
    conn.execute(insert(link_limits), [_row(d, now, rows.get(d.link)) for d in decisions])
    record_many(conn, [_event(d, topology) for d in decisions])


def _row(decision: Decision, now: datetime, before: Any | None) -> dict[str, Any]:
    seen = decision.window
    previous = decision.old if decision.new != decision.old else (before.previous_limit if before else None)
    return {
        "source_rse_id": decision.link[0],
        "dest_rse_id": decision.link[1],
        "limit": decision.new,
        "previous_limit": previous,
        "throughput": seen.throughput,
        "files": seen.files,
        "successes": seen.successes,
        "failures": seen.failures,
        "decided_at": now,
    }


def _event(decision: Decision, topology: Topology) -> dict[str, Any]:
    seen = decision.window
    return event_row(
        "link.limit",
        source_rse=topology.name(decision.link[0]),
        dest_rse=topology.name(decision.link[1]),
        bytes=seen.bytes,
        message=decision.reason,
        payload={
            "old": decision.old,
            "new": decision.new,
            "throughput": round(seen.throughput, 1),
            "files_per_second": round(seen.files, 3),
            "success_rate": round(seen.success_rate, 3),
            "peak": seen.peak,
            "successes": seen.successes,
            "failures": seen.failures,
        },
    )


def list_links(conn: Connection) -> Iterator[LinkLimitOut]:
    """Every link the optimizer has decided, with its current limit and what it last saw."""
    topology = Topology.load(conn)
    for row in conn.execute(select(link_limits).order_by(link_limits.c.decided_at.desc())):
        source, dest = topology.rses.get(row.source_rse_id), topology.rses.get(row.dest_rse_id)
        if source is not None and dest is not None:
            yield LinkLimitOut(
                source_rse=source.name,
                dest_rse=dest.name,
                limit=link_limit(source, dest, row.limit),
                throughput=row.throughput,
                files_per_second=row.files,
                successes=row.successes,
                failures=row.failures,
                decided_at=row.decided_at,
            )
