"""Reaper: deletes unlocked tombstoned replicas from storage and the catalog, per RSE of this partition.

It opens its own short transactions (claim, then record the outcome) so none is held during storage I/O.
"""

from __future__ import annotations

from lake.daemons.base import Daemon, DaemonContext
from lake.logic.deletion.reaper import reap


def run_once(ctx: DaemonContext) -> bool:
    return reap(ctx.services, ctx.partition, greedy=ctx.greedy, stop=ctx.stop) > 0


DAEMON = Daemon(
    name="reaper",
    interval=30.0,
    run_once=run_once,
    description="delete OBSOLETE replicas, and LRU ones while an RSE is below MinFreeSpace (all if greedy)",
)
