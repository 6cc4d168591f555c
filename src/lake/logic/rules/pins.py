"""Upload rules: like `rucio upload`, every uploaded file is protected by a rule of one copy on its RSE.

Without it, a later rule that locked the upload and was then deleted would leave the only copy
tombstoned for the reaper. Created in bulk, already OK (the replicas are AVAILABLE when this runs).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import Connection, bindparam, insert, select, update

from lake.core.clock import utcnow
from lake.core.models import DIDRef
from lake.core.policy import Grouping, LockState, RuleState
from lake.db import schema as t
from lake.db.bulk import key_conditions
from lake.db.schema_policy import locks, rules
from lake.logic.monitoring.events import event_row, record_many

UPLOAD_ACTIVITY = "User Upload"


def pin_uploads(conn: Connection, account: str, rse_id: str, rse_name: str, files: Sequence[DIDRef]) -> int:
    """One OK rule (1 copy on `rse_name`) and its lock per file that has none yet; returns how many."""
    keys = [(f.scope, f.name) for f in files]
    r = rules.c
    taken: set[tuple[str, str]] = set()
    for where in key_conditions(conn, (r.scope, r.name), keys):
        query = select(r.scope, r.name).where(r.account == account, r.rse_expression == rse_name, where)
        taken.update((s, n) for s, n in conn.execute(query))
    todo = [k for k in dict.fromkeys(keys) if k not in taken]
    sizes = _sizes(conn, todo)
    now = utcnow()
    rule_rows, lock_rows = [], []
    for scope, name in todo:
        rule_id = uuid.uuid4().hex
        rule_rows.append(
            {"id": rule_id, "account": account, "scope": scope, "name": name, "did_type": "FILE",
             "rse_expression": rse_name, "copies": 1, "grouping": Grouping.NONE.value, "weight": None,
             "locked": False, "activity": UPLOAD_ACTIVITY, "priority": 3, "source_replica_expression": None,
             "purge_replicas": False, "ignore_account_limit": False, "state": RuleState.OK.value,
             "locks_ok_cnt": 1, "locks_replicating_cnt": 0, "locks_stuck_cnt": 0, "error": None, "stuck_at": None,
             "expires_at": None, "child_rule_id": None, "comments": "upload", "created_at": now, "updated_at": now}
        )  # fmt: skip
        lock_rows.append(
            {"rule_id": rule_id, "scope": scope, "name": name, "rse_id": rse_id, "account": account,
             "bytes": sizes.get((scope, name), 0), "state": LockState.OK.value, "repair_cnt": 0, "created_at": now,
             "updated_at": now}
        )  # fmt: skip
    if rule_rows:
        conn.execute(insert(rules), rule_rows)
        conn.execute(insert(locks), lock_rows)
        _bump(conn, rse_id, todo)
        record_many(conn, [event_row("rule.created", rule_id=x["id"], scope=x["scope"], name=x["name"],
                                     activity=UPLOAD_ACTIVITY, dest_rse=rse_name) for x in rule_rows])  # fmt: skip
    return len(rule_rows)


def _sizes(conn: Connection, keys: list[tuple[str, str]]) -> dict[tuple[str, str], int]:
    d = t.dids.c
    sizes: dict[tuple[str, str], int] = {}
    for where in key_conditions(conn, (d.scope, d.name), keys):
        query = select(d.scope, d.name, d.bytes).where(where)
        sizes.update({(s, n): b or 0 for s, n, b in conn.execute(query)})
    return sizes


def _bump(conn: Connection, rse_id: str, keys: list[tuple[str, str]]) -> None:
    r = t.replicas.c
    statement = (
        update(t.replicas)
        .where(r.rse_id == rse_id, r.scope == bindparam("k_scope"), r.name == bindparam("k_name"))
        .values(lock_cnt=r.lock_cnt + 1, tombstone=None)
    )
    conn.execute(statement, [{"k_scope": s, "k_name": n} for s, n in keys])
