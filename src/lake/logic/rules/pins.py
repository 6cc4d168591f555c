"""Upload rules: like `rucio upload`, every uploaded file is protected by a rule of one copy on its RSE.

Without it, a later rule that locked the upload and was then deleted would leave the only copy
tombstoned for the reaper. Created in bulk, already OK (the replicas are AVAILABLE when this runs).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, select

from lake.core.clock import utcnow
from lake.core.models import DIDRef
from lake.core.replication import Grouping, LockState, RuleIn, RuleState
from lake.db import locks as lock_rows
from lake.db import replicas as replica_rows
from lake.db import rules as rule_rows
from lake.db import schema as t
from lake.db.bulk import key_conditions
from lake.logic.monitoring.events import event_row, record_many

UPLOAD_ACTIVITY = "User Upload"


def pin_uploads(conn: Connection, account: str, rse_id: str, rse_name: str, files: Sequence[DIDRef]) -> int:
    """One OK rule (1 copy on `rse_name`) and its lock per file that has none yet; returns how many."""
    keys = [(f.scope, f.name) for f in files]
    taken = rule_rows.pinned(conn, account, rse_name, keys)
    todo = [k for k in dict.fromkeys(keys) if k not in taken]
    sizes = _sizes(conn, todo)
    now = utcnow()
    new_rules, new_locks = [], []
    for scope, name in todo:
        spec = RuleIn(
            scope=scope,
            name=name,
            copies=1,
            rse_expression=rse_name,
            grouping=Grouping.NONE,
            activity=UPLOAD_ACTIVITY,
            comments="upload",
        )
        rule = rule_rows.new_rule(spec, account, "FILE", RuleState.OK, now, locks_ok=1)
        new_rules.append(rule)
        key = (rse_id, scope, name)
        new_locks.append(lock_rows.new_lock(rule.id, account, key, sizes.get((scope, name), 0), LockState.OK, now))
    if new_rules:
        rule_rows.insert_rules(conn, new_rules)
        lock_rows.add(conn, new_locks)
        replica_rows.lock(conn, [(rse_id, scope, name) for scope, name in todo])
        record_many(
            conn,
            [
                event_row(
                    "rule.created",
                    rule_id=x.id,
                    scope=x.scope,
                    name=x.name,
                    activity=UPLOAD_ACTIVITY,
                    dest_rse=rse_name,
                )
                for x in new_rules
            ],
        )
    return len(new_rules)


def _sizes(conn: Connection, keys: list[tuple[str, str]]) -> dict[tuple[str, str], int]:
    d = t.dids.c
    sizes: dict[tuple[str, str], int] = {}
    for where in key_conditions(conn, (d.scope, d.name), keys):
        query = select(d.scope, d.name, d.bytes).where(where)
        sizes.update({(s, n): b or 0 for s, n, b in conn.execute(query)})
    return sizes
