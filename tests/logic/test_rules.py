"""Rules: placement, locks, replicas and transfers they imply; grouping, quotas, duplicates, updates."""

import random

import pytest
from sqlalchemy import select

from lake.core.errors import DuplicateRule, InsufficientTargetRSEs, InvalidRSEExpression, QuotaExceeded
from lake.core.models import DIDRef, RegisterFilesIn
from lake.core.partition import Partition
from lake.core.replication import Grouping, LimitIn, RuleIn, RuleUpdate
from lake.db import schema as t
from lake.db.schema_replication import events, locks, transfers
from lake.logic.catalog import contents, replicas
from lake.logic.rules import quotas, rules
from lake.logic.rules.evaluator import evaluate_updates
from lake.testing.factories import ALICE, GRID_SITES, ROOT, add_dataset, file_in


@pytest.fixture
def sites():
    return GRID_SITES


def rule(conn, name="ds", expression="tier=1", copies=2, caller=ALICE, **extra):
    spec = RuleIn(scope="user.alice", name=name, rse_expression=expression, copies=copies, **extra)
    return rules.add_rule(conn, caller, spec, rng=random.Random(1))


def lock_rses(conn, rule_id):
    return {row.rse for row in rules.rule_locks(conn, rule_id)}


def test_rule_with_two_copies_creates_two_transfers_per_file(conn):
    add_dataset(conn, "ds", ["a", "b", "c"], "CERN-DISK")
    created = rule(conn)
    assert created.state == "REPLICATING" and created.locks_replicating_cnt == 6
    queued = conn.execute(select(transfers).where(transfers.c.rule_id == created.id)).all()
    assert len(queued) == 6 and {q.state for q in queued} == {"QUEUED"}
    copying = conn.execute(select(t.replicas).where(t.replicas.c.state == "COPYING")).all()
    assert len(copying) == 6 and all(r.lock_cnt == 1 for r in copying)


def test_dataset_grouping_keeps_files_together(conn):
    add_dataset(conn, "ds", [f"f{i}" for i in range(10)], "CERN-DISK")
    created = rule(conn, copies=1)
    assert len(lock_rses(conn, created.id)) == 1


def test_grouping_none_may_spread_files(conn):
    add_dataset(conn, "ds", [f"f{i}" for i in range(30)], "CERN-DISK")
    created = rule(conn, copies=1, grouping=Grouping.NONE)
    assert len(lock_rses(conn, created.id)) > 1


def test_rule_where_data_already_is_is_ok_at_once(conn):
    add_dataset(conn, "ds", ["a", "b"], "DESY-DISK")
    created = rule(conn, expression="country=DE", copies=1)
    assert created.state == "OK" and created.locks_ok_cnt == 2
    assert lock_rses(conn, created.id) == {"DESY-DISK"}
    assert conn.execute(select(transfers)).all() == []


def test_not_enough_rses_is_refused(conn):
    add_dataset(conn, "ds", ["a"], "CERN-DISK")
    with pytest.raises(InsufficientTargetRSEs):
        rule(conn, expression="country=DE", copies=3)
    with pytest.raises(InvalidRSEExpression):
        rule(conn, expression="country=XX", copies=1)


def test_duplicate_rule_is_refused(conn):
    add_dataset(conn, "ds", ["a"], "CERN-DISK")
    rule(conn)
    with pytest.raises(DuplicateRule):
        rule(conn)


def test_quota_blocks_rules_beyond_the_limit_and_admins_may_bypass(conn):
    add_dataset(conn, "ds", ["a", "b"], "CERN-DISK", size=600)
    quotas.set_limit(conn, ROOT, "alice", LimitIn(rse_expression="tier=1", bytes=1000))
    with pytest.raises(QuotaExceeded):
        rule(conn, copies=1)
    created = rule(conn, copies=1, caller=ROOT, account="alice", ignore_account_limit=True)
    usage = {u.rse: u.bytes for u in quotas.account_usage(conn, "alice")}
    assert sum(usage.values()) == 1200 and created.account == "alice"


def test_local_limit_shows_remaining_bytes(conn):
    add_dataset(conn, "ds", ["a"], "CERN-DISK", size=100)
    quotas.set_limit(conn, ROOT, "alice", LimitIn(rse_expression="CERN-DISK", bytes=1000))
    rule(conn, expression="CERN-DISK", copies=1)
    [usage] = quotas.account_usage(conn, "alice")
    assert (usage.rse, usage.bytes, usage.bytes_limit, usage.bytes_remaining) == ("CERN-DISK", 100, 1000, 900)


def test_deleting_a_rule_tombstones_unlocked_replicas_and_cancels_transfers(conn):
    add_dataset(conn, "ds", ["a", "b"], "CERN-DISK")
    created = rule(conn, copies=1, purge_replicas=True)
    rules.delete_rule(conn, ALICE, created.id)
    assert conn.execute(select(locks)).all() == []
    states = {r.state for r in conn.execute(select(transfers))}
    assert states == {"CANCELLED"}
    copying = conn.execute(select(t.replicas).where(t.replicas.c.state == "COPYING")).all()
    assert copying and all(r.tombstone is not None and r.lock_cnt == 0 for r in copying)
    kinds = [row.kind for row in conn.execute(select(events.c.kind))]
    assert "rule.created" in kinds and "rule.deleted" in kinds and "transfer.queued" in kinds


def test_locked_rule_cannot_be_deleted_until_unlocked(conn):
    add_dataset(conn, "ds", ["a"], "CERN-DISK")
    created = rule(conn, copies=1, locked=True)
    with pytest.raises(Exception, match="locked"):
        rules.delete_rule(conn, ALICE, created.id)
    rules.update_rule(conn, ALICE, created.id, RuleUpdate(locked=False))
    rules.delete_rule(conn, ALICE, created.id)


def test_suspend_and_resume(conn):
    add_dataset(conn, "ds", ["a"], "CERN-DISK")
    created = rule(conn, copies=1)
    assert rules.update_rule(conn, ALICE, created.id, RuleUpdate(suspended=True)).state == "SUSPENDED"
    assert rules.update_rule(conn, ALICE, created.id, RuleUpdate(suspended=False)).state == "REPLICATING"


def test_lifetime_sets_expiry(conn):
    add_dataset(conn, "ds", ["a"], "CERN-DISK")
    assert rule(conn, copies=1, lifetime=60).expires_at is not None


def test_files_attached_later_get_locks_and_detached_lose_them(conn):
    ref = add_dataset(conn, "ds", ["a"], "CERN-DISK")
    created = rule(conn, copies=2)
    replicas.register_files(conn, ALICE, RegisterFilesIn(rse="CERN-DISK", files=[file_in("late")], dataset=ref))
    assert evaluate_updates(conn, Partition()) >= 1
    names = {(row.name, row.rse) for row in rules.rule_locks(conn, created.id)}
    assert {n for n, _ in names} == {"a", "late"} and len(names) == 4
    contents.detach(conn, ALICE, ref, [DIDRef(scope="user.alice", name="a")])
    evaluate_updates(conn, Partition())
    assert {row.name for row in rules.rule_locks(conn, created.id)} == {"late"}
    assert rules.get_rule(conn, created.id).locks_replicating_cnt == 2
