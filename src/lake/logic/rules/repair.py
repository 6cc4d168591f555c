"""Repairing STUCK locks (the judge-repairer role): retry where the destination still takes writes, move
the lock to another RSE of the rule's expression where it does not.

A lock is repaired once it has been STUCK for REPAIR_DELAY seconds (time for an outage to end), at most
MAX_REPAIRS times; each repair is an event. Work is partitioned by rule id; each rule row is locked while
its locks change so concurrent recounts (transfer outcomes) cannot store stale counters.
"""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, select, update

from lake.core.clock import utcnow
from lake.core.errors import InsufficientTargetRSEs
from lake.core.models import RSEOut
from lake.core.partition import Partition
from lake.core.policy import LockState, RuleState
from lake.db import schema as t
from lake.db.schema_policy import locks, rules
from lake.logic.catalog import rses
from lake.logic.monitoring.events import record
from lake.logic.rules.files import RuleFile
from lake.logic.rules.locks import Placement, add_locks, queue_transfers, refresh_rules, release_locks, set_lock_states
from lake.logic.rules.placement import candidate_targets, choose

REPAIR_DELAY = 600.0  # seconds a lock stays STUCK before a repair
MAX_REPAIRS = 5
BATCH = 200


def _stuck_locks(conn: Connection, partition: Partition, limit: int) -> list[Any]:
    """STUCK locks due for repair, oldest first, of rules in this partition."""
    l_ = locks.c
    query = (
        select(locks)
        .where(l_.state == LockState.STUCK.value, l_.repair_cnt < MAX_REPAIRS,
               l_.updated_at <= utcnow() - timedelta(seconds=REPAIR_DELAY))
        .order_by(l_.updated_at)
        .limit(limit * max(1, partition.total))
    )  # fmt: skip
    return [row for row in conn.execute(query) if partition.owns(row.rule_id)][:limit]


def repair_stuck(conn: Connection, partition: Partition, limit: int = BATCH) -> int:
    """Retry or move each due STUCK lock; returns how many were repaired."""
    writable = {rse.id: rse for rse in rses.list_rses(conn) if rse.availability_write}
    touched: set[str] = set()
    repaired = 0
    for lock in _stuck_locks(conn, partition, limit):
        rule = conn.execute(select(rules).where(rules.c.id == lock.rule_id).with_for_update()).first()
        if rule is None or rule.state == RuleState.SUSPENDED.value:
            continue
        _count_repair(conn, lock)
        file = _rule_file(conn, lock)
        if lock.rse_id in writable:
            repaired += _retry(conn, rule, lock, file, writable[lock.rse_id])
        else:
            repaired += _move(conn, rule, lock, file)
        touched.add(rule.id)
    refresh_rules(conn, touched)
    return repaired


def _count_repair(conn: Connection, lock: Any) -> None:
    l_ = locks.c
    key = (l_.rule_id == lock.rule_id) & (l_.rse_id == lock.rse_id) & (l_.scope == lock.scope)
    conn.execute(update(locks).where(key & (l_.name == lock.name)).values(repair_cnt=l_.repair_cnt + 1))


def _rule_file(conn: Connection, lock: Any) -> RuleFile:
    d = t.dids.c
    row = conn.execute(select(d.bytes, d.adler32, d.md5).where(d.scope == lock.scope, d.name == lock.name)).first()
    size, adler32, md5 = (row.bytes or 0, row.adler32, row.md5) if row else (lock.bytes, None, None)
    return RuleFile(lock.scope, lock.name, size, adler32, md5)


def _retry(conn: Connection, rule: Any, lock: Any, file: RuleFile, dest: RSEOut) -> int:
    """A fresh transfer (attempt 0) to the same RSE; its locks go back to REPLICATING."""
    queued = queue_transfers(conn, rule, [Placement(file, lock.rse_id)])
    set_lock_states(conn, [(lock.rse_id, lock.scope, lock.name)], LockState.REPLICATING)
    record(conn, "lock.retried", rule_id=rule.id, scope=lock.scope, name=lock.name, dest_rse=dest.name,
           bytes=file.bytes, activity=rule.activity, payload={"transfers_queued": queued,
                                                              "repair": lock.repair_cnt + 1})  # fmt: skip
    return 1


def _move(conn: Connection, rule: Any, lock: Any, file: RuleFile) -> int:
    """Lock another writable RSE of the expression not yet holding this file for the rule; release the old."""
    held = set(
        conn.execute(
            select(locks.c.rse_id).where(
                locks.c.rule_id == rule.id, locks.c.scope == lock.scope, locks.c.name == lock.name
            )
        ).scalars()
    )
    targets = [target for target in candidate_targets(conn, rule.rse_expression, rule.weight) if target.id not in held]
    try:
        target = choose(targets, 1, {}, random.Random(), rule.rse_expression)[0]
    except InsufficientTargetRSEs as exc:
        record(conn, "lock.repair_failed", rule_id=rule.id, scope=lock.scope, name=lock.name, message=exc.message)
        return 0
    add_locks(conn, rule, [Placement(file, target.id)])
    release_locks(conn, rule.id, rule.purge_replicas, keys=[(lock.rse_id, lock.scope, lock.name)])
    record(conn, "lock.moved", rule_id=rule.id, scope=lock.scope, name=lock.name, dest_rse=target.name,
           bytes=file.bytes, activity=rule.activity, payload={"from_rse_id": lock.rse_id})  # fmt: skip
    return 1
