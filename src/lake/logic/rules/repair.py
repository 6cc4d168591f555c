"""Repairing STUCK locks (the judge-repairer role): retry where the destination still takes writes, move
the lock to another RSE of the rule's expression where it does not.

A lock is repaired once it has been STUCK for REPAIR_DELAY seconds (time for an outage to end), at most
MAX_REPAIRS times; each repair is an event. Work is partitioned by rule id; each rule row is locked while
its locks change so concurrent recounts (transfer outcomes) cannot store stale counters.
"""

from __future__ import annotations

import random
from datetime import timedelta

from sqlalchemy import Connection, select

from lake.core.clock import utcnow
from lake.core.errors import InsufficientTargetRSEs
from lake.core.models import RSEOut
from lake.core.partition import Partition
from lake.core.replication import LockState, RuleState
from lake.db import locks as lock_rows
from lake.db import rules as rule_rows
from lake.db import schema as t
from lake.db.locks import LockRow
from lake.db.rules import RuleRow
from lake.logic.catalog import rses
from lake.logic.monitoring.events import record
from lake.logic.rules.files import RuleFile
from lake.logic.rules.locks import Placement, add_locks, queue_transfers, refresh_rules, release_locks, set_lock_states
from lake.logic.rules.placement import candidate_targets, choose

REPAIR_DELAY = 600.0  # seconds a lock stays STUCK before a repair
MAX_REPAIRS = 5
BATCH = 200


def _stuck_locks(conn: Connection, partition: Partition, limit: int) -> list[LockRow]:
    """STUCK locks due for repair, oldest first, of rules in this partition."""
    due = utcnow() - timedelta(seconds=REPAIR_DELAY)
    rows = lock_rows.stuck(conn, due, MAX_REPAIRS, limit * max(1, partition.total))
    return [row for row in rows if partition.owns(row.rule_id)][:limit]


def repair_stuck(conn: Connection, partition: Partition, limit: int = BATCH) -> int:
    """Retry or move each due STUCK lock; returns how many were repaired."""
    writable = {rse.id: rse for rse in rses.list_rses(conn) if rse.availability_write}
    touched: set[str] = set()
    repaired = 0
    for lock in _stuck_locks(conn, partition, limit):
        rule = rule_rows.get(conn, lock.rule_id, for_update=True)
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


def _count_repair(conn: Connection, lock: LockRow) -> None:
    lock_rows.count_repairs(conn, [(lock.rule_id, lock.rse_id, lock.scope, lock.name)])


def _rule_file(conn: Connection, lock: LockRow) -> RuleFile:
    d = t.dids.c
    row = conn.execute(select(d.bytes, d.adler32, d.md5).where(d.scope == lock.scope, d.name == lock.name)).first()
    size, adler32, md5 = (row.bytes or 0, row.adler32, row.md5) if row else (lock.bytes, None, None)
    return RuleFile(lock.scope, lock.name, size, adler32, md5)


def _retry(conn: Connection, rule: RuleRow, lock: LockRow, file: RuleFile, dest: RSEOut) -> int:
    """A fresh transfer (attempt 0) to the same RSE; its locks go back to REPLICATING."""
    queued = queue_transfers(conn, rule, [Placement(file, lock.rse_id)])
    set_lock_states(conn, [lock.key], LockState.REPLICATING)
    record(
        conn,
        "lock.retried",
        rule_id=rule.id,
        scope=lock.scope,
        name=lock.name,
        dest_rse=dest.name,
        bytes=file.bytes,
        activity=rule.activity,
        payload={"transfers_queued": queued, "repair": lock.repair_cnt + 1},
    )
    return 1


def _move(conn: Connection, rule: RuleRow, lock: LockRow, file: RuleFile) -> int:
    """Lock another writable RSE of the expression not yet holding this file for the rule; release the old."""
    held = lock_rows.rses_of(conn, rule.id, lock.scope, lock.name)
    targets = [target for target in candidate_targets(conn, rule.rse_expression, rule.weight) if target.id not in held]
    try:
        target = choose(targets, 1, {}, random.Random(), rule.rse_expression)[0]
    except InsufficientTargetRSEs as exc:
        record(conn, "lock.repair_failed", rule_id=rule.id, scope=lock.scope, name=lock.name, message=exc.message)
        return 0
    add_locks(conn, rule, [Placement(file, target.id)])
    release_locks(conn, rule.id, rule.purge_replicas, keys=[lock.key])
    record(
        conn,
        "lock.moved",
        rule_id=rule.id,
        scope=lock.scope,
        name=lock.name,
        dest_rse=target.name,
        bytes=file.bytes,
        activity=rule.activity,
        payload={"from_rse_id": lock.rse_id},
    )
    return 1
