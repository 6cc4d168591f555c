"""Undertaker: deletes DIDs past their `expired_at` (their rules expire, file replicas get OBSOLETE tombstones)."""

from __future__ import annotations

from lake.daemons.base import Daemon, DaemonContext
from lake.logic.deletion.undertaker import expire_dids


def run_once(ctx: DaemonContext) -> bool:
    with ctx.services.db.transaction() as conn:
        return expire_dids(conn, ctx.partition) > 0


DAEMON = Daemon(
    name="undertaker",
    interval=30.0,
    run_once=run_once,
    description="delete expired DIDs: expire their rules, drop collections, tombstone file replicas",
)
