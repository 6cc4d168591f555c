"""Keeping rules true when content changes: files attached later get locks, detached files lose them.

Attach and detach queue the parent DID in `updated_dids`; `evaluate_updates` (the rule_evaluator daemon's
iteration) finds every rule on that DID or above it and reconciles its locks with its current files.
"""

from __future__ import annotations

import random
from collections import Counter

from sqlalchemy import Connection

from lake.core.models import DIDRef
from lake.core.partition import Partition
from lake.core.replication import Grouping
from lake.db import did_updates
from lake.db import locks as lock_rows
from lake.db import rules as rule_rows
from lake.db.locks import Held
from lake.db.rules import RuleRow
from lake.logic.catalog.contents import ancestors_of
from lake.logic.rules.files import RuleFile, file_groups
from lake.logic.rules.locks import Placement, add_locks, refresh_rules, release_locks
from lake.logic.rules.placement import candidate_targets, choose


def evaluate_updates(conn: Connection, partition: Partition, limit: int = 100) -> int:
    """Consume queued DID updates owned by this partition; returns how many were handled."""
    rows = did_updates.pending(conn, limit * max(partition.total, 1))
    mine = [row for row in rows if partition.owns(f"{row.scope}:{row.name}")][:limit]
    handled: set[str] = set()
    for row in mine:
        for rule_id in rules_above(conn, DIDRef(scope=row.scope, name=row.name)):
            if rule_id not in handled:
                reconcile_rule(conn, rule_id)
                handled.add(rule_id)
    did_updates.consume(conn, [row.id for row in mine])
    return len(mine)


def rules_above(conn: Connection, ref: DIDRef) -> list[str]:
    dids = [(ref.scope, ref.name)] + [(a.scope, a.name) for a in ancestors_of(conn, ref)]
    found: list[str] = []
    for scope, name in dids:
        found.extend(rule_rows.ids_on(conn, scope, name))
    return found


def reconcile_rule(conn: Connection, rule_id: str) -> None:
    """Lock new files on the RSEs the rule already uses; release locks of files no longer covered."""
    rule = rule_rows.get(conn, rule_id)
    if rule is None:
        return
    ref = DIDRef(scope=rule.scope, name=rule.name)
    current = {(f.scope, f.name): f for group in file_groups(conn, ref, Grouping(rule.grouping)) for f in group}
    held = lock_rows.held(conn, rule_id)
    gone = [k.key for k in held if (k.scope, k.name) not in current]
    if gone:
        release_locks(conn, rule_id, purge=rule.purge_replicas, keys=gone)
    locked = {(k.scope, k.name) for k in held}
    new = [f for key, f in current.items() if key not in locked]
    if new:
        add_locks(conn, rule, _placements_for_new(conn, rule, new, held))
    refresh_rules(conn, [rule_id])


def _placements_for_new(conn: Connection, rule: RuleRow, new: list[RuleFile], held: list[Held]) -> list[Placement]:
    """Reuse the RSEs the rule already holds (the dataset stays together); a fresh choice otherwise."""
    targets = candidate_targets(conn, rule.rse_expression, rule.weight)
    used = [rse_id for rse_id, _ in Counter(k.rse_id for k in held).most_common(rule.copies)]
    if len(used) == rule.copies and set(used) <= {t.id for t in targets}:
        return [Placement(f, rse_id) for f in new for rse_id in used]
    chosen = choose(targets, rule.copies, {}, random.Random(), rule.rse_expression)
    return [Placement(f, t.id) for f in new for t in chosen]
