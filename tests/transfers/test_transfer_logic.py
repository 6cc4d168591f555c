"""Transfer-engine decisions without I/O (SQLite): claiming with limits and partitions, source ranking,
failure categories and retries, orphan recovery, and the repairer moving locks off unwritable RSEs."""

from __future__ import annotations

import random
from collections import Counter
from datetime import timedelta
from types import SimpleNamespace

import httpx
import pytest
from sqlalchemy import select, update

from lake.core.clock import utcnow
from lake.core.errors import (
    AlreadyExists,
    ChecksumMismatch,
    FileNotFoundOnStorage,
    InvalidToken,
    StorageError,
    Unavailable,
)
from lake.core.models import DistanceIn, RegisterFilesIn, RSEUpdate
from lake.core.partition import Partition
from lake.core.replication import ErrorCategory, LockState, RuleIn
from lake.db import schema as t
from lake.db.schema_replication import locks, rules, transfers
from lake.logic.catalog import replicas, rses
from lake.logic.rules import repair
from lake.logic.rules import rules as rule_logic
from lake.logic.rules.locks import move_lock_states, refresh_rules
from lake.logic.transfers.batch import SMALL_FILE
from lake.logic.transfers.claim import LINK_LIMIT, SMALL_PER_SLOT, claim, recover_orphans, weight
from lake.logic.transfers.failures import TransferFailed, categorize, error_text, tried_sources
from lake.logic.transfers.outcome import BACKOFF_CAP, backoff, fail
from lake.logic.transfers.sources import SourceRanker, Topology, available_replicas
from lake.testing.factories import ALICE, ROOT, add_dataset, file_in

SITES = {
    "SRC-A": {"tier": 0},
    "SRC-B": {"tier": 0},
    "DST-1": {"tier": 1},
    "DST-2": {"tier": 1},
    "DST-3": {"tier": 1},
}


@pytest.fixture
def sites():
    return SITES


def add_rule(conn, dataset: str, expression: str, copies: int = 1, **extra) -> str:
    spec = RuleIn(scope="user.alice", name=dataset, rse_expression=expression, copies=copies, **extra)
    return rule_logic.add_rule(conn, ALICE, spec, rng=random.Random(3)).id


def queued(conn, rule_id: str | None = None) -> list:
    query = select(transfers).where(transfers.c.state == "QUEUED")
    if rule_id:
        query = query.where(transfers.c.rule_id == rule_id)
    return list(conn.execute(query))


def test_claim_respects_link_and_destination_limits(conn, one_by_one):
    add_dataset(conn, "ds", [f"f{i}" for i in range(12)], "SRC-A")
    add_rule(conn, "ds", "tier=1", copies=3)  # 36 transfers, all from SRC-A
    rses.set_attribute(conn, ROOT, "DST-3", "max_transfers_per_link", 2)
    jobs = claim(conn, Partition(), "w1", limit=100).jobs
    per_link = Counter((j.source_rse, j.dest_rse) for j in jobs)
    assert per_link == {("SRC-A", "DST-1"): 4, ("SRC-A", "DST-2"): 4, ("SRC-A", "DST-3"): 2}
    assert claim(conn, Partition(), "w2", limit=100).jobs == []  # the links are full for everybody
    rses.set_attribute(conn, ROOT, "DST-1", "max_transfers", 5)
    rses.set_attribute(conn, ROOT, "DST-1", "max_transfers_per_link", 10)
    assert [j.dest_rse for j in claim(conn, Partition(), "w2", limit=100).jobs] == ["DST-1"]
    submitted = conn.execute(select(transfers.c.worker).where(transfers.c.state == "SUBMITTED")).scalars().all()
    assert Counter(submitted) == {"w1": 10, "w2": 1}


def test_small_bulk_pulls_take_a_fraction_of_a_slot_and_big_files_a_whole_one(conn):
    """A small first-attempt pull (batched into bulk pulls) takes 1/SMALL_PER_SLOT of a slot of the link's
    and destination's limits; a file above SMALL_FILE a whole slot, as before."""
    add_dataset(conn, "small", [f"s{i}" for i in range(300)], "SRC-A")
    add_dataset(conn, "big", [f"b{i}" for i in range(6)], "SRC-A", size=SMALL_FILE + 1)
    add_rule(conn, "small", "DST-1")
    jobs = claim(conn, Partition(), "w1", limit=1000).jobs
    assert len(jobs) == LINK_LIMIT * SMALL_PER_SLOT  # the link's 4 slots, 64 small pulls each
    assert all(weight(job.transfer, job.route) == 1 / SMALL_PER_SLOT for job in jobs)
    add_rule(conn, "big", "DST-2")
    big = claim(conn, Partition(), "w1", limit=1000).jobs
    assert [job.dest_rse for job in big] == ["DST-2"] * LINK_LIMIT
    assert all(weight(job.transfer, job.route) == 1.0 for job in big)


def test_claim_takes_higher_priority_first_and_skips_backoff_and_other_partitions(conn):
    add_dataset(conn, "low", ["l1", "l2"], "SRC-A")
    add_dataset(conn, "high", ["h1", "h2"], "SRC-A")
    add_rule(conn, "low", "DST-1", priority=1)
    add_rule(conn, "high", "DST-1", priority=5)
    assert {j.transfer.name for j in claim(conn, Partition(), "w", limit=2).jobs} == {"h1", "h2"}
    conn.execute(update(transfers).where(transfers.c.name == "l1").values(retry_after=utcnow() + timedelta(hours=1)))
    l2 = conn.execute(select(transfers.c.bucket).where(transfers.c.name == "l2")).scalar_one()
    other = Partition(index=(l2 + 1) % 2, total=2)
    assert claim(conn, other, "w", limit=10).jobs == []
    assert [j.transfer.name for j in claim(conn, Partition(index=l2 % 2, total=2), "w", limit=10).jobs] == ["l2"]


def test_sources_rank_by_past_failures_then_distance_and_respect_expressions(conn):
    add_dataset(conn, "ds", ["f"], "SRC-A")
    rses.set_distance(conn, ROOT, DistanceIn(source="SRC-A", destination="DST-1", distance=1))
    rses.set_distance(conn, ROOT, DistanceIn(source="SRC-B", destination="DST-1", distance=3))
    for rse in ("SRC-B", "DST-2"):
        replicas.register_files(conn, ALICE, RegisterFilesIn(rse=rse, files=[file_in("f")]))
    rses.update_rse(conn, ROOT, "DST-2", RSEUpdate(availability_read=False))
    [row] = queued(conn, add_rule(conn, "ds", "DST-1"))
    transfer = SimpleNamespace(**row._asdict())
    ranker = SourceRanker(conn, Topology.load(conn))
    available = available_replicas(conn, [("user.alice", "f")])[("user.alice", "f")]

    def names(row):
        return [source.rse.name for source in ranker.rank(row, available)]

    assert names(transfer) == ["SRC-A", "SRC-B"]  # DST-2 cannot be read; unknown distances come last
    transfer.error = error_text("boom", None, "SRC-A")
    assert names(transfer) == ["SRC-B", "SRC-A"]
    transfer.source_replica_expression = "SRC-B"
    assert names(transfer) == ["SRC-B"]


def test_error_categories_and_tried_sources():
    timeout = StorageError("GET: ReadTimeout")
    timeout.__cause__ = httpx.ReadTimeout("slow")
    assert categorize(FileNotFoundOnStorage(), at_source=True) == ErrorCategory.SOURCE_MISSING
    assert categorize(FileNotFoundOnStorage()) == ErrorCategory.STORAGE_ERROR
    assert categorize(ChecksumMismatch()) == ErrorCategory.CHECKSUM_MISMATCH
    assert categorize(AlreadyExists()) == ErrorCategory.DESTINATION_EXISTS
    assert categorize(InvalidToken()) == ErrorCategory.AUTH
    assert categorize(timeout) == ErrorCategory.TIMEOUT
    assert categorize(Unavailable()) == ErrorCategory.STORAGE_ERROR
    text = error_text("second", error_text("first\nline", None, "A"), "B")
    assert text.splitlines()[0] == "second" and tried_sources(text) == ["A", "B"]
    assert tried_sources(error_text("third", text, "A")) == ["A", "B"]
    assert backoff(1) < backoff(2) < backoff(3) and backoff(40).total_seconds() == BACKOFF_CAP


def test_last_failure_makes_locks_stuck_with_the_error_on_the_rule(conn):
    add_dataset(conn, "ds", ["f"], "SRC-A")
    rule_id = add_rule(conn, "ds", "DST-1")
    why = TransferFailed(ErrorCategory.AUTH, "403 at the destination")
    for _ in range(3):
        [row] = conn.execute(select(transfers)).all()
        assert fail(conn, row, why, source="SRC-A")
    [row] = conn.execute(select(transfers)).all()
    assert (row.state, row.attempt, row.error_category, tried_sources(row.error)) == ("FAILED", 3, "AUTH", ["SRC-A"])
    rule = conn.execute(select(rules).where(rules.c.id == rule_id)).one()
    assert rule.state == "STUCK" and rule.locks_stuck_cnt == 1 and "403 at the destination" in rule.error
    assert not fail(conn, row, why)  # a FAILED transfer is not QUEUED any more: nothing changes


def test_orphans_of_dead_workers_are_requeued_in_this_partition_only(conn):
    add_dataset(conn, "ds", [f"f{i}" for i in range(8)], "SRC-A")
    add_rule(conn, "ds", "DST-1")
    rses.set_attribute(conn, ROOT, "DST-1", "max_transfers_per_link", 8)
    claimed = claim(conn, Partition(), "dead", limit=4).jobs + claim(conn, Partition(), "alive", limit=4).jobs
    assert len(claimed) == 8
    assert recover_orphans(conn, Partition(), live={"alive"}) == 4
    states = Counter(conn.execute(select(transfers.c.state, transfers.c.worker)).all())
    assert states == {("QUEUED", None): 4, ("SUBMITTED", "alive"): 4}
    mine = Partition(index=0, total=2)
    assert recover_orphans(conn, mine, live=set()) == sum(1 for j in claimed if j.transfer.bucket % 2 == 0 and
                                                          j.worker == "alive")  # fmt: skip


def test_no_source_at_all_fails_as_source_missing(conn):
    add_dataset(conn, "ds", ["f"], "SRC-A")
    add_rule(conn, "ds", "DST-1")
    conn.execute(update(t.replicas).where(t.replicas.c.rse_id == rses.rse_id(conn, "SRC-A")).values(state="BAD"))
    assert claim(conn, Partition(), "w", limit=4).settled == 1
    [row] = conn.execute(select(transfers)).all()
    assert (row.state, row.error_category, row.attempt) == ("QUEUED", "SOURCE_MISSING", 1)


def test_repairer_moves_a_stuck_lock_off_an_rse_that_takes_no_writes(conn, monkeypatch):
    monkeypatch.setattr(repair, "REPAIR_DELAY", 0.0)
    add_dataset(conn, "ds", ["f"], "SRC-A")
    rule_id = add_rule(conn, "ds", "tier=1", copies=2)
    held = set(conn.execute(select(locks.c.rse_id).where(locks.c.rule_id == rule_id)).scalars())
    [row] = [r for r in conn.execute(select(transfers)) if r.dest_rse_id == sorted(held)[0]]
    for _ in range(3):
        fail(conn, conn.execute(select(transfers).where(transfers.c.id == row.id)).one(),
             TransferFailed(ErrorCategory.STORAGE_ERROR, "down"))  # fmt: skip
    bad = conn.execute(select(t.rses.c.name).where(t.rses.c.id == row.dest_rse_id)).scalar_one()
    rses.update_rse(conn, ROOT, bad, RSEUpdate(availability_write=False))
    assert repair.repair_stuck(conn, Partition()) == 1
    now_held = set(conn.execute(select(locks.c.rse_id).where(locks.c.rule_id == rule_id)).scalars())
    assert row.dest_rse_id not in now_held and len(now_held) == 2
    [new] = [r for r in queued(conn, rule_id) if r.dest_rse_id not in held]
    assert (new.attempt, new.scope, new.name) == (0, "user.alice", "f")
    old = conn.execute(select(t.replicas).where(t.replicas.c.rse_id == row.dest_rse_id)).one()
    assert old.tombstone.year == 1970 and old.lock_cnt == 0
    rule = conn.execute(select(rules).where(rules.c.id == rule_id)).one()
    assert rule.state == "REPLICATING" and rule.locks_stuck_cnt == 0


def test_repairer_waits_before_retrying_a_stuck_lock(conn):
    add_dataset(conn, "ds", ["f"], "SRC-A")
    add_rule(conn, "ds", "DST-1")
    for _ in range(3):
        fail(conn, conn.execute(select(transfers)).one(), TransferFailed(ErrorCategory.TIMEOUT, "slow"))
    assert repair.repair_stuck(conn, Partition()) == 0  # stuck only just now: too early
    conn.execute(update(locks).values(updated_at=utcnow() - timedelta(seconds=repair.REPAIR_DELAY + 1)))
    assert repair.repair_stuck(conn, Partition()) == 1
    assert [(r.state, r.attempt) for r in conn.execute(select(transfers).order_by(transfers.c.created_at))] == [
        ("FAILED", 3), ("QUEUED", 0)
    ]  # fmt: skip


def test_finished_and_failed_transfers_shift_rule_counters_exactly_as_a_recount(conn):
    add_dataset(conn, "ds", ["f1", "f2", "f3"], "SRC-A")
    first, second = add_rule(conn, "ds", "DST-1"), add_rule(conn, "ds", "DST-1&tier=1", grouping="NONE")
    rows = conn.execute(select(transfers).order_by(transfers.c.name)).all()
    assert len(rows) == 3  # both rules share the three transfers to DST-1
    keys = [(row.dest_rse_id, row.scope, row.name) for row in rows]
    move_lock_states(conn, keys[:2], LockState.OK)
    move_lock_states(conn, keys[1:], LockState.STUCK)
    counted = {rid: conn.execute(select(rules).where(rules.c.id == rid)).one() for rid in (first, second)}
    refresh_rules(conn, [first, second])
    for rid, before in counted.items():
        after = conn.execute(select(rules).where(rules.c.id == rid)).one()
        counters = ("locks_ok_cnt", "locks_replicating_cnt", "locks_stuck_cnt", "state")
        assert [before._mapping[c] for c in counters] == [after._mapping[c] for c in counters] == [1, 0, 2, "STUCK"]
