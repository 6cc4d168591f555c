"""Changing where a rule keeps its copies: reduce (fewer copies) and move (a child rule on other RSEs).

Reducing releases surplus locks at once, so the replicas nobody else wants get tombstones. Moving never
drops data first: a child rule replicates to the new RSEs, and the rule cleaner deletes the old rule only
once the child is OK.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Sequence

from sqlalchemy import Connection

from lake.core.clock import utcnow
from lake.core.errors import InvalidInput, PermissionDenied
from lake.core.replication import Grouping, LockState, RuleIn, RuleOut
from lake.db import locks as lock_rows
from lake.db import rules as rule_rows
from lake.db.locks import Held
from lake.db.rules import RuleRow
from lake.logic.auth.permissions import Caller
from lake.logic.monitoring.events import record
from lake.logic.rules.locks import refresh_rules, release_locks
from lake.logic.rules.rules import add_rule, get_rule, get_rule_row

Key = tuple[str, str, str]


def _require_owner(caller: Caller, row: RuleRow) -> None:
    if not caller.admin and row.account != caller.account:
        raise PermissionDenied(f"rule {row.id} belongs to '{row.account}'")


def reduce_rule(conn: Connection, caller: Caller, rule_id: str, copies: int) -> RuleOut:
    """Keep `copies` locks per file; surplus locks go, incomplete ones and incomplete RSEs first."""
    row = get_rule_row(conn, rule_id)
    _require_owner(caller, row)
    if copies < 1 or copies >= row.copies:
        raise InvalidInput(f"rule {rule_id} has {row.copies} copies: reducing needs between 1 and {row.copies - 1}")
    held = lock_rows.held(conn, rule_id)
    surplus = surplus_locks(held, copies)
    released = release_locks(conn, rule_id, purge=row.purge_replicas, keys=surplus) if surplus else 0
    rule_rows.set_copies(conn, rule_id, copies, utcnow())
    refresh_rules(conn, [rule_id])
    record(
        conn,
        "rule.reduced",
        rule_id=rule_id,
        scope=row.scope,
        name=row.name,
        payload={"copies_before": row.copies, "copies": copies, "locks_released": released},
    )
    return get_rule(conn, rule_id)


def surplus_locks(held: Sequence[Held], copies: int) -> list[Key]:
    """Per file, the locks beyond `copies` to drop: not-OK locks first, then RSEs with the most unfinished
    locks of the rule (so a dataset keeps landing together on the RSEs that are complete), then by RSE id."""
    unfinished = Counter(lock.rse_id for lock in held if lock.state != LockState.OK.value)
    per_file: dict[tuple[str, str], list[Held]] = defaultdict(list)
    for lock in held:
        per_file[(lock.scope, lock.name)].append(lock)
    drop: list[Key] = []
    for file_locks in per_file.values():
        file_locks.sort(key=lambda lock: (lock.state == LockState.OK.value, -unfinished[lock.rse_id], lock.rse_id))
        drop.extend((lock.rse_id, lock.scope, lock.name) for lock in file_locks[: max(0, len(file_locks) - copies)])
    return drop


def move_rule(conn: Connection, caller: Caller, rule_id: str, rse_expression: str) -> RuleOut:
    """Create a child rule with the same settings on `rse_expression`; returns the child.

    The old rule keeps its locks until the child is OK, then the rule cleaner deletes it (even if locked:
    moving is the owner's explicit decision, and the child inherits the lock).
    """
    row = get_rule_row(conn, rule_id)
    _require_owner(caller, row)
    if row.child_rule_id:
        raise InvalidInput(f"rule {rule_id} is already being moved (child rule {row.child_rule_id})")
    if rse_expression == row.rse_expression:
        raise InvalidInput(f"rule {rule_id} already uses '{rse_expression}'")
    child = add_rule(conn, caller, _child_spec(row, rse_expression))
    rule_rows.set_child(conn, rule_id, child.id, utcnow())
    record(
        conn,
        "rule.moved",
        rule_id=rule_id,
        scope=row.scope,
        name=row.name,
        payload={"child_rule_id": child.id, "from": row.rse_expression, "to": rse_expression},
    )
    return child


def _child_spec(row: RuleRow, rse_expression: str) -> RuleIn:
    """The old rule's settings with the new expression; the remaining lifetime carries over."""
    lifetime = None
    if row.expires_at is not None:
        lifetime = max(1, math.ceil((row.expires_at - utcnow()).total_seconds()))
    return RuleIn(
        scope=row.scope,
        name=row.name,
        copies=row.copies,
        rse_expression=rse_expression,
        grouping=Grouping(row.grouping),
        weight=row.weight,
        lifetime=lifetime,
        locked=row.locked,
        activity=row.activity,
        priority=row.priority,
        source_replica_expression=row.source_replica_expression,
        purge_replicas=row.purge_replicas,
        ignore_account_limit=row.ignore_account_limit,
        comments=row.comments,
        account=row.account,
    )
