"""Rule cleaner: deletes expired (unlocked) rules and the old rules of finished moves."""

from __future__ import annotations

from lake.daemons.base import Daemon, DaemonContext
from lake.logic.deletion.expiry import clean_rules


def run_once(ctx: DaemonContext) -> bool:
    with ctx.services.db.transaction() as conn:
        return clean_rules(conn, ctx.partition) > 0


DAEMON = Daemon(
    name="rule_cleaner",
    interval=30.0,
    run_once=run_once,
    description="delete rules past their lifetime (unless locked) and moved rules whose child is OK",
)
