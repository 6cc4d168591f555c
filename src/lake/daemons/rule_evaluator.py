"""Rule evaluator: keeps rules true when content changes (attached files get locks, detached ones lose them)."""

from __future__ import annotations

from lake.daemons.base import Daemon, DaemonContext
from lake.logic.rules.evaluator import evaluate_updates


def run_once(ctx: DaemonContext) -> bool:
    with ctx.services.db.transaction() as conn:
        return evaluate_updates(conn, ctx.partition) > 0


DAEMON = Daemon(
    name="rule_evaluator",
    interval=5.0,
    run_once=run_once,
    description="reconcile the locks of rules on DIDs whose content changed (queued in updated_dids)",
)
