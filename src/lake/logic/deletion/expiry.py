"""The rule cleaner: rules past their `expires_at` (unless locked) and rules whose move finished go away.

Removing a rule is what `delete_rule` does (release its locks, tombstone the orphans) without the
caller checks: the lifetime was the owner's decision when the rule was made.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Connection

from lake.core.clock import utcnow
from lake.core.partition import Partition
from lake.db import rules as rule_rows
from lake.db.rules import RuleRow
from lake.logic.monitoring.events import record
from lake.logic.rules.locks import release_locks

LIMIT = 100


def remove_rule(conn: Connection, row: RuleRow, kind: str, reason: str) -> int:
    """Release the rule's locks (tombstoning orphans), delete it and record `kind`; returns locks released."""
    released = release_locks(conn, row.id, purge=row.purge_replicas)
    rule_rows.delete_rule(conn, row.id)
    record(conn, kind, rule_id=row.id, scope=row.scope, name=row.name, payload={"locks": released, "reason": reason})
    return released


def clean_rules(conn: Connection, partition: Partition, limit: int = LIMIT) -> int:
    """Delete expired unlocked rules and moved rules whose child is OK, in this partition; returns how many."""
    now = utcnow()
    done = 0
    for row in _mine(lambda n: rule_rows.expired(conn, now, n), partition, limit):
        remove_rule(conn, row, "rule.expired", "lifetime")
        done += 1
    for row in _mine(lambda n: rule_rows.moved(conn, n), partition, limit):
        remove_rule(conn, row, "rule.deleted", f"moved to rule {row.child_rule_id}")
        done += 1
    return done + rule_rows.forget_lost_children(conn, utcnow())


def _mine(read: Callable[[int], list[RuleRow]], partition: Partition, limit: int) -> list[RuleRow]:
    """Up to `limit` rules, read by `read(n)`, whose rule id this instance owns."""
    rows = read(limit * max(partition.total, 1))
    return [row for row in rows if partition.owns(row.id)][:limit]
