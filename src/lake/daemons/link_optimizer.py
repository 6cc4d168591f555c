"""link_optimizer: adapts each link's concurrent-transfer limit to its recent throughput and success rate."""

from __future__ import annotations

from lake.daemons.base import Daemon, DaemonContext
from lake.logic.transfers.optimizer import optimize


def run_once(ctx: DaemonContext) -> bool:
    """Decide the limits of this partition's busy links; links decided moments ago wait for a longer window."""
    with ctx.services.db.transaction() as conn:
        return bool(optimize(conn, ctx.partition))


DAEMON = Daemon(
    name="link_optimizer",
    interval=30.0,
    run_once=run_once,
    description="raise or lower each link's concurrent-transfer limit from its throughput and success rate",
)
