"""Per-link adaptive concurrency: the optimizer's decisions from synthetic finished transfers (inserted as rows),
the claim step honouring them, the daemon recording them, and the read-only listing."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from unittest import mock

import pytest
from sqlalchemy import insert, select
from typer.testing import CliRunner

from lake.cli.common import CliState
from lake.cli.main import app
from lake.client import LakeClient
from lake.core.clock import utcnow
from lake.core.partition import Partition
from lake.core.replication import RuleIn
from lake.core.settings import ClientSettings
from lake.daemons import link_optimizer
from lake.daemons.base import DaemonContext
from lake.db.schema_replication import events, link_limits, transfers
from lake.logic.catalog import rses
from lake.logic.monitoring.events import record
from lake.logic.rules import rules
from lake.logic.transfers.claim import claim
from lake.logic.transfers.optimizer import Window, list_links, optimize
from lake.testing.factories import ALICE, ROOT, add_dataset, add_rses

MB = 1_000_000
SITES = {"SRC-A": {}, "DST-1": {}, "DST-2": {}}


@pytest.fixture
def sites():
    return SITES


def rse_id(conn, name: str) -> str:
    return rses.get_rse(conn, name).id


def finished(conn, dest: str, files: int, at_once: int, seconds: float, size: int = MB) -> None:
    """DONE transfers SRC-A -> dest, `at_once` at a time, each taking `seconds`, the last ending 1 s ago."""
    now, rounds = utcnow(), -(-files // at_once)
    source, target = rse_id(conn, "SRC-A"), rse_id(conn, dest)
    rows = []
    for i in range(files):
        end = now - timedelta(seconds=1 + seconds * (rounds - 1 - i // at_once))
        rows.append({"id": uuid.uuid4().hex, "scope": "user.alice", "name": f"f{i}", "dest_rse_id": target,
                     "source_rse_id": source, "state": "DONE", "activity": "default", "priority": 3, "bytes": size,
                     "created_at": end - timedelta(seconds=seconds), "submitted_at": end - timedelta(seconds=seconds),
                     "finished_at": end, "updated_at": end})  # fmt: skip
    conn.execute(insert(transfers), rows)


def decided(conn, dest: str, limit: int, throughput: float, previous: int | None = None, ago: float = 40) -> None:
    """The optimizer's row for SRC-A -> dest as if it decided `ago` seconds ago."""
    conn.execute(insert(link_limits).values(
        source_rse_id=rse_id(conn, "SRC-A"), dest_rse_id=rse_id(conn, dest), limit=limit, previous_limit=previous,
        throughput=throughput, files=1.0, successes=1, failures=0, decided_at=utcnow() - timedelta(seconds=ago),
    ))  # fmt: skip


def limits(conn) -> dict[str, int]:
    return {link.dest_rse: link.limit for link in list_links(conn)}


def test_saturated_healthy_link_whose_throughput_grows_gets_a_higher_limit(conn):
    decided(conn, "DST-1", limit=4, throughput=1 * MB)
    finished(conn, "DST-1", files=8, at_once=4, seconds=1)  # 8 MB in 2 s busy: 4 MB/s
    [decision] = optimize(conn)
    assert (decision.old, decision.new, decision.reason) == (4, 6, "throughput up")
    assert limits(conn) == {"DST-1": 6}
    row = conn.execute(select(link_limits)).one()
    assert (row.previous_limit, row.throughput, row.files, row.successes) == (4, 4 * MB, 4.0, 8)


def test_first_decision_on_a_saturated_link_probes_one_step_up(conn):
    finished(conn, "DST-1", files=8, at_once=4, seconds=1)
    assert [(d.old, d.new, d.reason) for d in optimize(conn)] == [(4, 6, "probe")]


def test_unsaturated_link_keeps_its_limit_and_idle_links_get_no_decision(conn):
    decided(conn, "DST-2", limit=4, throughput=1 * MB)  # nothing finished on it since
    finished(conn, "DST-1", files=6, at_once=2, seconds=1)  # never more than 2 of 4 slots used
    [decision] = optimize(conn)
    assert (decision.old, decision.new, decision.reason) == (4, 4, "not saturated")
    assert limits(conn) == {"DST-1": 4, "DST-2": 4}


def test_link_with_failures_halves_its_limit(conn):
    decided(conn, "DST-1", limit=8, throughput=1 * MB)
    finished(conn, "DST-1", files=16, at_once=8, seconds=1)
    for _ in range(3):  # 16 done, 3 failed attempts: 84% success
        record(conn, "transfer.failed", source_rse="SRC-A", dest_rse="DST-1", error_category="STORAGE_ERROR")
    record(conn, "transfer.failed", source_rse=None, dest_rse="DST-1")  # a claim-time failure is not the link's
    [decision] = optimize(conn)
    assert (decision.old, decision.new, decision.reason) == (8, 4, "failures")
    assert round(decision.window.success_rate, 2) == 0.84


def test_throughput_falling_after_an_increase_steps_back(conn):
    decided(conn, "DST-1", limit=6, previous=4, throughput=4 * MB)
    finished(conn, "DST-1", files=12, at_once=6, seconds=3)  # 12 MB in 6 s: 2 MB/s
    assert [(d.old, d.new, d.reason) for d in optimize(conn)] == [(6, 4, "throughput down after an increase")]
    assert conn.execute(select(link_limits.c.previous_limit)).scalar() == 6


def test_steps_up_stop_at_max_transfers_per_link(conn):
    rses.set_attribute(conn, ROOT, "DST-1", "max_transfers_per_link", 5)
    decided(conn, "DST-1", limit=4, throughput=1 * MB)
    finished(conn, "DST-1", files=8, at_once=4, seconds=1)
    assert [(d.old, d.new) for d in optimize(conn)] == [(4, 5)]
    finished(conn, "DST-1", files=10, at_once=5, seconds=0.5)
    conn.execute(link_limits.update().values(decided_at=utcnow() - timedelta(seconds=30)))
    assert [(d.old, d.new, d.reason) for d in optimize(conn)] == [(5, 5, "at the ceiling")]


def test_link_decided_moments_ago_waits_for_a_longer_window(conn):
    decided(conn, "DST-1", limit=4, throughput=1 * MB, ago=5)
    finished(conn, "DST-1", files=8, at_once=4, seconds=1)
    assert optimize(conn) == []


def test_links_outside_the_partition_are_left_to_other_instances(conn):
    finished(conn, "DST-1", files=8, at_once=4, seconds=1)
    link = f"{rse_id(conn, 'SRC-A')}:{rse_id(conn, 'DST-1')}"
    mine = next(Partition(index=i, total=2) for i in range(2) if Partition(index=i, total=2).owns(link))
    assert optimize(conn, Partition(index=1 - mine.index, total=2)) == []
    assert len(optimize(conn, mine)) == 1


def test_claim_runs_more_than_the_default_on_a_link_the_optimizer_raised(conn, one_by_one):
    add_dataset(conn, "ds", [f"f{i}" for i in range(12)], "SRC-A")
    rules.add_rule(conn, ALICE, RuleIn(scope="user.alice", name="ds", rse_expression="DST-1", copies=1))
    decided(conn, "DST-1", limit=7, throughput=1 * MB)
    assert len(claim(conn, Partition(), "w1", limit=100).jobs) == 7
    rses.set_attribute(conn, ROOT, "SRC-A", "max_transfers_per_link", 3)  # an RSE's attribute still caps it
    conn.execute(transfers.update().values(state="QUEUED", worker=None))
    assert len(claim(conn, Partition(), "w2", limit=100).jobs) == 3


def test_daemon_run_once_records_a_link_limit_event(services):
    with services.db.transaction() as conn:
        add_rses(conn, SITES)
        finished(conn, "DST-1", files=8, at_once=4, seconds=1)
    assert link_optimizer.run_once(DaemonContext(services=services, instance="optimizer")) is True
    with services.db.transaction() as conn:
        [event] = conn.execute(select(events).where(events.c.kind == "link.limit")).all()
    assert (event.source_rse, event.dest_rse, event.message, event.bytes) == ("SRC-A", "DST-1", "probe", 8 * MB)
    assert event.payload == {"old": 4, "new": 6, "throughput": 4 * MB, "files_per_second": 4.0, "success_rate": 1.0,
                             "peak": 4, "successes": 8, "failures": 0}  # fmt: skip
    assert link_optimizer.run_once(DaemonContext(services=services, instance="optimizer")) is False


def test_window_counts_overlapping_transfers_once_for_busy_time_and_peak():
    t0 = datetime(2026, 1, 1)

    def at(seconds: float) -> datetime:
        return t0 + timedelta(seconds=seconds)

    window = Window(successes=3, bytes=6 * MB, done=[(at(0), at(2)), (at(1), at(3)), (at(3), at(4))],
                    running=[(at(5), at(6))])  # fmt: skip
    assert (window.busy, window.peak, window.throughput, window.files) == (4.0, 2, 1.5 * MB, 0.75)


def test_links_are_listed_by_the_api_and_the_cli(services, user_api):
    with services.db.transaction() as conn:
        add_rses(conn, SITES)
        finished(conn, "DST-1", files=8, at_once=4, seconds=1)
        optimize(conn)
    [link] = user_api.get("/v1/transfers/links").iter_lines()
    assert json.loads(link) | {"decided_at": None} == {
        "source_rse": "SRC-A", "dest_rse": "DST-1", "limit": 6, "throughput": 4 * MB, "files_per_second": 4.0,
        "successes": 8, "failures": 0, "decided_at": None,
    }  # fmt: skip
    settings = ClientSettings(url="http://testserver", token=user_api.headers["Authorization"].split()[1])
    with mock.patch.object(CliState, "client", lambda _state, ctx: LakeClient(settings, http=user_api)):
        table = CliRunner().invoke(app, ["transfer", "links"], env={"COLUMNS": "250"})
    assert table.exit_code == 0, table.output
    assert "SRC-A" in table.stdout and "4.0 MB/s" in table.stdout
