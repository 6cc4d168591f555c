"""The rule cleaner: rules past their `expires_at` (unless locked) and rules whose move finished go away.

Removing a rule is what `delete_rule` does (release its locks, tombstone the orphans) without the
caller checks: the lifetime was the owner's decision when the rule was made.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, and_, delete, select, update

from lake.core.clock import utcnow
from lake.core.partition import Partition
from lake.core.policy import RuleState
from lake.db.schema_policy import rules
from lake.logic.monitoring.events import record
from lake.logic.rules.locks import release_locks

LIMIT = 100


def remove_rule(conn: Connection, row: Any, kind: str, reason: str) -> int:
    """Release the rule's locks (tombstoning orphans), delete it and record `kind`; returns locks released."""
    released = release_locks(conn, row.id, purge=row.purge_replicas)
    conn.execute(delete(rules).where(rules.c.id == row.id))
    record(conn, kind, rule_id=row.id, scope=row.scope, name=row.name, payload={"locks": released, "reason": reason})
    return released


def clean_rules(conn: Connection, partition: Partition, limit: int = LIMIT) -> int:
    """Delete expired unlocked rules and moved rules whose child is OK, in this partition; returns how many."""
    now = utcnow()
    done = 0
    expired = select(rules).where(rules.c.expires_at < now, rules.c.locked.is_(False)).order_by(rules.c.expires_at)
    for row in _mine(conn, expired, partition, limit):
        remove_rule(conn, row, "rule.expired", "lifetime")
        done += 1
    for row in _mine(conn, _moved_query(), partition, limit):
        remove_rule(conn, row, "rule.deleted", f"moved to rule {row.child_rule_id}")
        done += 1
    return done + _forget_lost_children(conn)


def _mine(conn: Connection, query: Any, partition: Partition, limit: int) -> list[Any]:
    """Up to `limit` rows of the query whose rule id this instance owns."""
    rows = conn.execute(query.limit(limit * max(partition.total, 1))).all()
    return [row for row in rows if partition.owns(row.id)][:limit]


def _moved_query() -> Any:
    """Rules with a child rule that is OK: the move is complete."""
    child = rules.alias("child")
    return (
        select(rules)
        .join(child, and_(child.c.id == rules.c.child_rule_id, child.c.state == RuleState.OK.value))
        .order_by(rules.c.updated_at)
    )


def _forget_lost_children(conn: Connection) -> int:
    """A rule whose child rule was deleted before finishing stays where it is: the move was abandoned."""
    existing = rules.alias("existing")
    result = conn.execute(
        update(rules)
        .where(rules.c.child_rule_id.is_not(None), rules.c.child_rule_id.not_in(select(existing.c.id)))
        .values(child_rule_id=None, updated_at=utcnow())
    )
    return result.rowcount or 0
