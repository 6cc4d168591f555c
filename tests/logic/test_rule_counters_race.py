"""A recount and a transfer finishing at the same time never lose an update of the rule's counters (SQLite:
the recount takes the writer lock before it counts)."""

from __future__ import annotations

import random
import threading

from sqlalchemy import select

from lake.core.replication import LockState, RuleIn
from lake.db.schema_replication import rules, transfers
from lake.logic.rules import locks as lock_logic
from lake.logic.rules import rules as rule_logic
from lake.logic.transfers.outcome import lock_rules
from lake.testing.factories import ALICE, add_dataset, add_rses

SITES = {"SRC": {"tier": 0}, "DST": {"tier": 1}}


def test_a_transfer_finishing_during_a_recount_is_not_lost(services, monkeypatch):
    with services.db.transaction() as conn:
        add_rses(conn, SITES)
        add_dataset(conn, "ds", ["f1", "f2"], "SRC")
        spec = RuleIn(scope="user.alice", name="ds", rse_expression="DST", copies=1)
        rule_id = rule_logic.add_rule(conn, ALICE, spec, rng=random.Random(1)).id
        keys = [(row.dest_rse_id, row.scope, row.name) for row in conn.execute(select(transfers))]
    finished = threading.Event()
    other = threading.Thread(target=lambda: finish_one_transfer())
    store_counts = lock_logic._store_counts

    def store_after_a_transfer_had_its_chance(*args):
        other.start()
        finished.wait(timeout=1.0)  # the transfer may commit here only if the recount held no lock
        store_counts(*args)

    def finish_one_transfer() -> None:
        with services.db.transaction() as conn:
            lock_rules(conn, keys[0])
            lock_logic.move_lock_states(conn, [keys[0]], LockState.OK)
        finished.set()

    monkeypatch.setattr(lock_logic, "_store_counts", store_after_a_transfer_had_its_chance)
    with services.db.transaction() as conn:
        lock_logic.refresh_rules(conn, [rule_id])
    monkeypatch.undo()
    other.join(timeout=30)
    with services.db.transaction() as conn:
        rule = conn.execute(select(rules).where(rules.c.id == rule_id)).one()
    assert (rule.locks_ok_cnt, rule.locks_replicating_cnt) == (1, 1)
