"""rule_repairer: gives STUCK locks another chance: a fresh transfer, or another RSE if theirs takes no writes."""

from __future__ import annotations

from lake.daemons.base import Daemon, DaemonContext
from lake.logic.rules.repair import repair_stuck


def run_once(ctx: DaemonContext) -> bool:
    """Repair the due STUCK locks of this partition's rules in one transaction."""
    with ctx.services.db.transaction() as conn:
        return repair_stuck(conn, ctx.partition) > 0


DAEMON = Daemon(
    name="rule_repairer",
    interval=60.0,
    run_once=run_once,
    description="retry STUCK locks after a delay, or move them to another RSE of the rule's expression",
)
