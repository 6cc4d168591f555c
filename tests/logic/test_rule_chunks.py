"""Large rules in bounded memory: placements are written in chunks, lock counters move set-based, and on
PostgreSQL tables filled in bulk get statistics before they are looked up by key."""

import os
import random

import pytest
from sqlalchemy import select, text

from lake.core.models import RegisterFilesIn
from lake.core.replication import Grouping, RuleIn
from lake.db import bulk
from lake.db import schema as t
from lake.db.schema_replication import events, locks, transfers
from lake.logic.catalog import replicas
from lake.logic.rules import locks as lock_ops
from lake.logic.rules import rules
from lake.testing.factories import ALICE, GRID_SITES, ROOT, add_dataset, file_in


@pytest.fixture
def sites():
    return GRID_SITES


def rule(conn, expression="tier=1", copies=2, caller=ALICE, **extra):
    spec = RuleIn(scope="user.alice", name="ds", rse_expression=expression, copies=copies, **extra)
    return rules.add_rule(conn, caller, spec, rng=random.Random(7))


def placed(conn, rule_id):
    return sorted((lock.scope, lock.name, lock.rse) for lock in rules.rule_locks(conn, rule_id))


def copies_on(conn, rse):
    """(lock_cnt, has a tombstone) of each replica on the RSE."""
    r = t.replicas.c
    query = select(r.lock_cnt, r.tombstone).join(t.rses, t.rses.c.id == r.rse_id).where(t.rses.c.name == rse)
    return sorted((count, tombstone is not None) for count, tombstone in conn.execute(query))


def test_chunked_rule_creation_does_place_files_as_one_pass_would(conn, monkeypatch):
    add_dataset(conn, "ds", [f"f{i}" for i in range(11)], "CERN-DISK")
    whole = rule(conn, copies=1, grouping=Grouping.NONE)
    expected = placed(conn, whole.id)
    rules.delete_rule(conn, ALICE, whole.id)
    monkeypatch.setattr(lock_ops, "ADD_CHUNK", 3)
    chunked = rule(conn, copies=1, grouping=Grouping.NONE)
    assert placed(conn, chunked.id) == expected and len({rse for _, _, rse in expected}) > 1


def test_rule_larger_than_a_chunk_does_lock_copy_and_queue_every_file_once(conn, monkeypatch):
    monkeypatch.setattr(lock_ops, "ADD_CHUNK", 4)
    add_dataset(conn, "ds", [f"f{i}" for i in range(9)], "CERN-DISK")
    created = rule(conn)
    assert (created.locks_ok_cnt, created.locks_replicating_cnt) == (0, 18)
    queued = conn.execute(select(transfers.c.dest_rse_id, transfers.c.name)).all()
    assert len(queued) == len(set(queued)) == 18
    copying = conn.execute(select(t.replicas).where(t.replicas.c.state == "COPYING")).all()
    assert len(copying) == 18 and all(r.lock_cnt == 1 and r.tombstone is None for r in copying)
    kinds = conn.execute(select(events.c.kind).where(events.c.rule_id == created.id)).scalars().all()
    assert kinds.count("transfer.queued") == 18


def test_files_already_on_the_target_in_any_chunk_do_count_as_ok(conn, monkeypatch):
    monkeypatch.setattr(lock_ops, "ADD_CHUNK", 2)
    names = [f"f{i}" for i in range(7)]
    add_dataset(conn, "ds", names, "CERN-DISK")
    there = RegisterFilesIn(rse="DESY-DISK", files=[file_in(name) for name in names[1::2]])
    replicas.register_files(conn, ALICE, there)
    created = rule(conn, expression="DESY-DISK", copies=1)
    assert (created.locks_ok_cnt, created.locks_replicating_cnt) == (3, 4)
    queued = set(conn.execute(select(transfers.c.name)).scalars())
    assert queued == set(names[0::2])


def test_two_rules_on_one_replica_do_keep_it_until_the_last_is_deleted(conn):
    add_dataset(conn, "ds", ["a", "b"], "CERN-DISK")
    first = rule(conn, expression="DESY-DISK", copies=1)
    second = rule(conn, expression="DESY-DISK", copies=1, caller=ROOT, account="root")
    assert copies_on(conn, "DESY-DISK") == [(2, False), (2, False)]
    rules.delete_rule(conn, ALICE, first.id)
    assert copies_on(conn, "DESY-DISK") == [(1, False), (1, False)]
    assert set(conn.execute(select(transfers.c.state)).scalars()) == {"QUEUED"}
    rules.delete_rule(conn, ROOT, second.id)
    assert copies_on(conn, "DESY-DISK") == [(0, True), (0, True)]
    assert set(conn.execute(select(transfers.c.state)).scalars()) == {"CANCELLED"}
    assert conn.execute(select(locks)).all() == []


def test_deleting_the_last_rule_on_available_data_does_give_lru_tombstones(conn):
    add_dataset(conn, "ds", ["a", "b"], "CERN-DISK")
    kept = rule(conn, expression="CERN-DISK", copies=1)
    gone = rule(conn, expression="CERN-DISK", copies=1, caller=ROOT, account="root")
    rules.delete_rule(conn, ROOT, gone.id)
    assert copies_on(conn, "CERN-DISK") == [(1, False), (1, False)]
    rules.delete_rule(conn, ALICE, kept.id)
    rows = conn.execute(select(t.replicas).where(t.replicas.c.state == "AVAILABLE")).all()
    assert len(rows) == 2 and all(r.lock_cnt == 0 and r.tombstone == r.created_at for r in rows)


@pytest.mark.postgres
@pytest.mark.integration
@pytest.mark.skipif(not os.environ.get("LAKE_TEST_DATABASE_URL"), reason="needs LAKE_TEST_DATABASE_URL")
def test_bulk_filled_table_does_get_statistics_before_key_lookups_on_postgres(conn):
    add_dataset(conn, "ds", [f"f{i:04d}" for i in range(bulk.ANALYZE_MIN_ROWS + 200)], "CERN-DISK")
    conn.execute(text("ANALYZE transfers"))  # statistics of an empty table: the rule's rows are all new
    rule(conn, expression="DESY-DISK", copies=1)
    known = conn.execute(text("SELECT reltuples FROM pg_class WHERE relname = 'transfers'")).scalar()
    assert known >= bulk.ANALYZE_MIN_ROWS
