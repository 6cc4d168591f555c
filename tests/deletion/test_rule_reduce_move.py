"""Reducing and moving rules: surplus locks go (incomplete ones first); a move completes via the rule cleaner."""

import random

import pytest
from sqlalchemy import select, update

from lake.core.errors import InvalidInput, PermissionDenied
from lake.core.partition import Partition
from lake.core.replication import LockState, RuleIn
from lake.core.states import OBSOLETE
from lake.db import schema as t
from lake.db.schema_replication import events, locks, rules, transfers
from lake.logic.auth.permissions import Caller
from lake.logic.catalog import rses
from lake.logic.deletion.expiry import clean_rules
from lake.logic.rules import changes
from lake.logic.rules import rules as rule_logic
from lake.logic.rules.locks import refresh_rules, set_lock_states
from lake.testing.factories import ALICE, GRID_SITES, ROOT, add_dataset

BOB = Caller(account="bob", admin=False)


@pytest.fixture
def sites():
    return GRID_SITES


def make_rule(conn, expression, copies, **extra):
    spec = RuleIn(scope="user.alice", name="ds", rse_expression=expression, copies=copies, **extra)
    return rule_logic.add_rule(conn, ALICE, spec, rng=random.Random(1))


def arrive(conn, rse_name, rule_ids=()):
    """What the transfer engine does when copies land: replicas AVAILABLE, their locks OK, rules refreshed."""
    rse_id = rses.rse_id(conn, rse_name)
    r = t.replicas.c
    keys = [tuple(k) for k in conn.execute(select(r.rse_id, r.scope, r.name).where(r.rse_id == rse_id))]
    conn.execute(update(t.replicas).where(r.rse_id == rse_id).values(state="AVAILABLE"))
    refresh_rules(conn, set(rule_ids) | set_lock_states(conn, keys, LockState.OK))


def lock_rses(conn, rule_id):
    return {lock.rse for lock in rule_logic.rule_locks(conn, rule_id)}


def kinds(conn):
    return [row.kind for row in conn.execute(select(events.c.kind).order_by(events.c.id))]


def test_reduce_drops_the_incomplete_rse_first_and_tombstones_its_copies(conn):
    add_dataset(conn, "ds", ["a", "b"], "CERN-DISK")
    rule = make_rule(conn, "tier=1", 3)
    arrive(conn, "DESY-DISK")
    arrive(conn, "KIT-DISK")
    reduced = changes.reduce_rule(conn, ALICE, rule.id, 2)
    assert reduced.copies == 2 and reduced.state == "OK" and reduced.locks_ok_cnt == 4
    assert lock_rses(conn, rule.id) == {"DESY-DISK", "KIT-DISK"}
    pic = rses.rse_id(conn, "PIC-DISK")
    left = conn.execute(select(t.replicas).where(t.replicas.c.rse_id == pic)).all()
    assert len(left) == 2 and all(r.lock_cnt == 0 and r.tombstone == OBSOLETE for r in left)
    pic_transfers = conn.execute(select(transfers.c.state).where(transfers.c.dest_rse_id == pic)).scalars().all()
    assert set(pic_transfers) == {"CANCELLED"}
    assert "rule.reduced" in kinds(conn)


def test_reduce_keeps_each_file_on_the_same_rses(conn):
    add_dataset(conn, "ds", [f"f{i}" for i in range(5)], "CERN-DISK")
    rule = make_rule(conn, "tier=1", 3)
    changes.reduce_rule(conn, ALICE, rule.id, 1)
    assert len(lock_rses(conn, rule.id)) == 1
    assert conn.execute(select(locks).where(locks.c.rule_id == rule.id)).all().__len__() == 5


def test_reduce_needs_fewer_copies_and_the_owner_or_an_admin(conn):
    add_dataset(conn, "ds", ["a"], "CERN-DISK")
    rule = make_rule(conn, "tier=1", 2)
    with pytest.raises(InvalidInput):
        changes.reduce_rule(conn, ALICE, rule.id, 2)
    with pytest.raises(PermissionDenied):
        changes.reduce_rule(conn, BOB, rule.id, 1)
    assert changes.reduce_rule(conn, ROOT, rule.id, 1).copies == 1


def test_move_creates_a_child_and_the_cleaner_removes_the_old_rule_once_the_child_is_ok(conn):
    add_dataset(conn, "ds", ["a", "b"], "CERN-DISK")
    old = make_rule(conn, "CERN-DISK", 1, purge_replicas=True, lifetime=3600)
    assert old.state == "OK"
    child = changes.move_rule(conn, ALICE, old.id, "DESY-DISK")
    assert child.state == "REPLICATING" and child.purge_replicas and child.expires_at is not None
    assert rule_logic.get_rule(conn, old.id).child_rule_id == child.id
    assert clean_rules(conn, Partition()) == 0
    assert rule_logic.get_rule(conn, old.id).locks_ok_cnt == 2
    arrive(conn, "DESY-DISK", [child.id])
    assert rule_logic.get_rule(conn, child.id).state == "OK"
    assert clean_rules(conn, Partition()) == 1
    assert conn.execute(select(rules.c.id)).scalars().all() == [child.id]
    cern = rses.rse_id(conn, "CERN-DISK")
    old_copies = conn.execute(select(t.replicas).where(t.replicas.c.rse_id == cern)).all()
    assert all(r.lock_cnt == 0 and r.tombstone == OBSOLETE for r in old_copies)
    assert {"rule.moved", "rule.deleted"} <= set(kinds(conn))


def test_move_is_refused_twice_to_the_same_place_or_for_others(conn):
    add_dataset(conn, "ds", ["a"], "CERN-DISK")
    old = make_rule(conn, "CERN-DISK", 1)
    with pytest.raises(InvalidInput):
        changes.move_rule(conn, ALICE, old.id, "CERN-DISK")
    with pytest.raises(PermissionDenied):
        changes.move_rule(conn, BOB, old.id, "DESY-DISK")
    changes.move_rule(conn, ALICE, old.id, "DESY-DISK")
    with pytest.raises(InvalidInput, match="already being moved"):
        changes.move_rule(conn, ALICE, old.id, "KIT-DISK")


def test_an_abandoned_move_leaves_the_old_rule_in_place(conn):
    add_dataset(conn, "ds", ["a"], "CERN-DISK")
    old = make_rule(conn, "CERN-DISK", 1)
    child = changes.move_rule(conn, ALICE, old.id, "DESY-DISK")
    rule_logic.delete_rule(conn, ALICE, child.id)
    clean_rules(conn, Partition())
    kept = rule_logic.get_rule(conn, old.id)
    assert kept.child_rule_id is None and kept.state == "OK"
