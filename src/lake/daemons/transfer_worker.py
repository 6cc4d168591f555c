"""transfer_worker: copies files for queued transfers (the FTS role), several at a time, in its partition."""

from __future__ import annotations

from lake.daemons.base import Daemon, DaemonContext
from lake.daemons.runner import dead_after
from lake.logic.transfers.worker import WorkerIdentity, iterate


def run_once(ctx: DaemonContext) -> bool:
    """Requeue orphans of dead workers, claim transfers, copy and verify them, record outcomes."""
    me = WorkerIdentity(DAEMON.name, ctx.instance, ctx.partition, dead_after(DAEMON))
    return iterate(ctx.services, me, ctx.stop.is_set)


DAEMON = Daemon(
    name="transfer_worker",
    interval=0.5,  # idle poll: one cheap claim query; a new rule's first copy starts within it
    run_once=run_once,
    description="claim queued transfers, copy (HTTP-TPC, streaming or multihop), verify checksums, retry",
)
