"""The rule cleaner and the undertaker: rule lifetimes (locked rules survive) and expired DIDs."""

import random
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from lake.core.clock import utcnow
from lake.core.errors import DuplicateDID
from lake.core.models import DIDIn, DIDRef, DIDType, RegisterFilesIn
from lake.core.partition import Partition
from lake.core.replication import RuleIn
from lake.core.states import OBSOLETE
from lake.db import schema as t
from lake.db.schema_replication import events, rules, updated_dids
from lake.logic.catalog import contents, dids, meta, replicas
from lake.logic.deletion.expiry import clean_rules
from lake.logic.deletion.undertaker import expire_dids
from lake.logic.rules import rules as rule_logic
from lake.logic.rules.evaluator import evaluate_updates
from lake.testing.factories import ALICE, add_dataset, file_in

SITES = {"CERN-DISK": {"tier": 0}, "DESY-DISK": {"tier": 1}}
PAST = timedelta(seconds=-10)


@pytest.fixture
def sites():
    return SITES


def make_rule(conn, name, expression="CERN-DISK", **extra):
    spec = RuleIn(scope="user.alice", name=name, rse_expression=expression, copies=1, **extra)
    return rule_logic.add_rule(conn, ALICE, spec, rng=random.Random(1))


def expire_rule(conn, rule_id):
    conn.execute(update(rules).where(rules.c.id == rule_id).values(expires_at=utcnow() + PAST))


def expire_did(conn, name):
    d = t.dids.c
    conn.execute(update(t.dids).where(d.scope == "user.alice", d.name == name).values(expired_at=utcnow() + PAST))


def events_of(conn, kind):
    return conn.execute(select(events).where(events.c.kind == kind)).all()


def replica_rows(conn, name):
    return conn.execute(select(t.replicas).where(t.replicas.c.name == name)).all()


def test_expired_rules_go_and_locked_or_unexpired_rules_stay(conn):
    add_dataset(conn, "ds", ["a"], "CERN-DISK")
    add_dataset(conn, "ds2", ["b"], "CERN-DISK")
    gone = make_rule(conn, "ds", lifetime=60)
    locked = make_rule(conn, "ds2", lifetime=60, locked=True)
    alive = make_rule(conn, "ds", expression="DESY-DISK", lifetime=3600)
    expire_rule(conn, gone.id)
    expire_rule(conn, locked.id)
    assert clean_rules(conn, Partition()) == 1
    assert set(conn.execute(select(rules.c.id)).scalars()) == {locked.id, alive.id}
    [event] = events_of(conn, "rule.expired")
    assert event.rule_id == gone.id
    [a] = [r for r in replica_rows(conn, "a") if r.state == "AVAILABLE"]
    assert a.lock_cnt == 0 and a.tombstone is not None


def test_partitions_share_the_expired_rules_without_overlap(conn):
    ids: list[str] = []
    while len(ids) < 8 or len({Partition(index=0, total=2).owns(i) for i in ids}) < 2:  # ids are random
        name = f"ds{len(ids)}"
        add_dataset(conn, name, [f"{name}-f"], "CERN-DISK")
        ids.append(make_rule(conn, name, lifetime=60).id)
        expire_rule(conn, ids[-1])
    first = clean_rules(conn, Partition(index=0, total=2), limit=len(ids))
    second = clean_rules(conn, Partition(index=1, total=2), limit=len(ids))
    assert first + second == len(ids) and first and second
    assert conn.execute(select(rules.c.id)).all() == []


def test_an_expired_dataset_is_deleted_with_its_rules_content_and_metadata(conn):
    add_dataset(conn, "ds", ["a", "b"], "CERN-DISK")
    dids.add_collection(conn, ALICE, DIDIn(scope="user.alice", name="cont", type=DIDType.CONTAINER))
    contents.attach(conn, ALICE, DIDRef(scope="user.alice", name="cont"), [DIDRef(scope="user.alice", name="ds")])
    meta.set_meta(conn, "user.alice", "ds", {"project": "x"})
    rule = make_rule(conn, "ds", expression="DESY-DISK", purge_replicas=True)
    expire_did(conn, "ds")
    assert expire_dids(conn, Partition()) == 1
    assert conn.execute(select(rules).where(rules.c.id == rule.id)).first() is None
    assert conn.execute(select(t.dids).where(t.dids.c.name == "ds")).first() is None
    assert conn.execute(select(t.deleted_dids.c.did_type).where(t.deleted_dids.c.name == "ds")).scalar() == "DATASET"
    assert conn.execute(select(t.did_meta).where(t.did_meta.c.name == "ds")).all() == []
    assert conn.execute(select(t.contents)).all() == []
    assert dids.get_did(conn, "user.alice", "cont").length == 0
    assert conn.execute(select(updated_dids.c.name).where(updated_dids.c.name == "cont")).first()
    assert {r.tombstone for r in replica_rows(conn, "a") if r.state == "COPYING"} == {OBSOLETE}
    assert dids.get_did(conn, "user.alice", "a").type == DIDType.FILE
    assert [e.name for e in events_of(conn, "did.expired")] == ["ds"]
    assert [e.rule_id for e in events_of(conn, "rule.expired")] == [rule.id]
    with pytest.raises(DuplicateDID):
        dids.add_collection(conn, ALICE, DIDIn(scope="user.alice", name="ds", type=DIDType.DATASET))


def test_an_expired_file_leaves_its_dataset_and_goes_once_its_replicas_are_gone(conn):
    ref = add_dataset(conn, "ds", ["a", "b"], "CERN-DISK")
    replicas.register_files(conn, ALICE, RegisterFilesIn(rse="DESY-DISK", files=[file_in("a")]))
    make_rule(conn, "a", expression="DESY-DISK")
    dataset_rule = make_rule(conn, "ds")
    expire_did(conn, "a")
    assert expire_dids(conn, Partition()) == 1
    by_rse = {r.rse_id: r for r in replica_rows(conn, "a")}
    assert sorted((r.lock_cnt, r.tombstone == OBSOLETE) for r in by_rse.values()) == [(0, True), (1, False)]
    assert [f.name for f in contents.list_files(conn, ref)] == ["b"]
    evaluate_updates(conn, Partition())
    assert {lock.name for lock in rule_logic.rule_locks(conn, dataset_rule.id)} == {"b"}
    expire_dids(conn, Partition())
    assert all(r.lock_cnt == 0 and r.tombstone == OBSOLETE for r in replica_rows(conn, "a"))
    assert expire_dids(conn, Partition()) == 0
    conn.execute(t.replicas.delete().where(t.replicas.c.name == "a"))
    assert expire_dids(conn, Partition()) == 1
    assert conn.execute(select(t.dids).where(t.dids.c.name == "a")).first() is None
    assert conn.execute(select(t.deleted_dids).where(t.deleted_dids.c.name == "a")).first() is not None
