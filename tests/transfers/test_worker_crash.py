"""Crash safety: a worker killed at any point leaves nothing done twice and no stray file on storage."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import zlib
from collections import Counter
from datetime import timedelta
from functools import partial
from pathlib import Path

import pytest
from sqlalchemy import delete, select, update

from lake.core.clock import utcnow
from lake.core.partition import Partition
from lake.db import schema as t
from lake.db.schema_replication import heartbeats
from lake.logic.catalog import rses
from lake.logic.rules import rules
from lake.logic.transfers.claim import claim
from lake.logic.transfers.execute import Backends, run
from lake.logic.transfers.worker import process
from lake.testing import waiting
from lake.testing.factories import ALICE
from lake.testing.factories import seeded_bytes as payload

pytestmark = pytest.mark.integration

WORKER = "transfer_worker"


def start_worker_process(lake) -> subprocess.Popen[bytes]:
    """`lake daemon transfer_worker` in its own process, on the lake's database and signing keys."""
    settings = lake.running.settings
    env = os.environ | {
        "LAKE_DATA_DIR": str(settings.data_dir), "LAKE_DATABASE_URL": settings.resolved_database_url(),
        "LAKE_PORT": str(settings.port),
    }  # fmt: skip
    command = [str(Path(sys.executable).parent / "lake"), "daemon", WORKER]
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


wait_for = partial(waiting.wait_for, timeout=15.0, step=0.01)


def other_instances(lake) -> list[str]:
    with lake.services.db.transaction() as conn:
        return list(conn.execute(select(heartbeats.c.instance).where(heartbeats.c.daemon == WORKER)).scalars())


def age_heartbeats(lake, instances: list[str]) -> None:
    """Let the dead worker's last heartbeat be older than the liveness window (as after a minute)."""
    with lake.services.db.transaction() as conn:
        conn.execute(
            update(heartbeats)
            .where(heartbeats.c.instance.in_(instances))
            .values(updated_at=utcnow() - timedelta(seconds=600))
        )


def assert_each_copy_done_once_and_storage_clean(lake, files: dict[str, bytes], rses: list[str]) -> None:
    done = lake.events("transfer.done")
    assert max(Counter(e.transfer_id for e in done).values()) == 1
    assert Counter((e.dest_rse, e.name) for e in done) == {(rse, name): 1 for rse in rses for name in files}
    assert lake.temp_files() == []
    for rse in ["CERN-DISK", *rses]:
        assert lake.stored(rse) == files  # exactly the catalogued files, byte for byte: no orphan, no partial
        assert {(r.name, r.state) for r in lake.replicas(rse)} == {(name, "AVAILABLE") for name in files}


def test_worker_killed_with_sigkill_mid_transfers_converges_after_restart(lake):
    files = {f"k{i:02d}.dat": payload(f"k{i}", 1_000_000 + i) for i in range(12)}
    lake.upload("CERN-DISK", "ds", files)
    rule_id = lake.add_rule("ds", "tier=1", copies=2)
    process = start_worker_process(lake)
    try:
        wait_for(lambda: len(lake.events("transfer.submitted")) >= 1 or process.poll() is not None)
        time.sleep(0.05)
    finally:
        process.send_signal(signal.SIGKILL)
        _, stderr = process.communicate(timeout=10)
    assert process.returncode == -signal.SIGKILL, stderr.decode()[-2000:]
    dead = other_instances(lake)
    in_flight = [x for x in lake.transfers(rule_id=rule_id) if x.state == "SUBMITTED"]
    assert dead and in_flight and {x.worker for x in in_flight} <= set(dead)

    lake.work()  # the dead worker still looks alive: its transfers stay SUBMITTED
    assert all(x.state == "SUBMITTED" for x in lake.transfers(rule_id=rule_id) if x.id in {y.id for y in in_flight})
    age_heartbeats(lake, dead)
    lake.work_until(lake.rule_is(rule_id, "OK"))
    assert len(lake.events("transfer.requeued")) >= len(in_flight)
    assert_each_copy_done_once_and_storage_clean(lake, files, ["DESY-DISK", "PIC-DISK"])


def test_a_copy_finished_by_a_worker_that_then_died_is_accepted_not_copied_again(lake):
    files = {"r.dat": payload("r", 100_000)}
    lake.upload("CERN-DISK", "ds", files)
    rule_id = lake.add_rule("ds", "DESY-DISK")
    services = lake.services
    with services.db.transaction() as conn:
        [job] = claim(conn, Partition(), "ghost-worker", limit=4).jobs
    backends = Backends()
    run(job, services.issuer, backends)  # the copy completes, then the worker dies before recording it
    backends.close()
    assert lake.stored("DESY-DISK") == files
    lake.work_until(lake.rule_is(rule_id, "OK"))
    [done] = lake.events("transfer.done")
    assert done.payload["recovered"] is True and done.payload["attempt"] == 0
    [requeued] = lake.events("transfer.requeued")
    assert "ghost-worker" in requeued.message
    assert_each_copy_done_once_and_storage_clean(lake, files, ["DESY-DISK"])


def test_a_different_file_in_the_way_is_replaced(lake):
    files = {"w.dat": payload("w", 20_000)}
    lake.upload("CERN-DISK", "ds", files)
    rule_id = lake.add_rule("ds", "DESY-DISK")
    with lake.services.db.transaction() as conn:
        [job] = claim(conn, Partition(), "ghost-worker", limit=4).jobs
    target = lake.storage_root("DESY-DISK") / job.dest_pfn.split("/", 3)[3]
    target.parent.mkdir(parents=True)
    target.write_bytes(b"not the file")
    lake.work_until(lake.rule_is(rule_id, "OK"))
    assert lake.events("transfer.done")[0].payload["recovered"] is False
    assert_each_copy_done_once_and_storage_clean(lake, files, ["DESY-DISK"])
    assert zlib.adler32(target.read_bytes()) == zlib.adler32(files["w.dat"])


def test_a_copy_whose_replica_was_reaped_meanwhile_is_removed_from_storage(lake):
    lake.upload("CERN-DISK", "ds", {"x.dat": payload("x", 10_000)})
    rule_id = lake.add_rule("ds", "DESY-DISK")
    services = lake.services
    with services.db.transaction() as conn:
        [job] = claim(conn, Partition(), "worker-a", limit=4).jobs
        rules.delete_rule(conn, ALICE, rule_id)  # the lock goes; the COPYING replica is tombstoned ...
        desy = rses.rse_id(conn, "DESY-DISK")
        conn.execute(delete(t.replicas).where(t.replicas.c.rse_id == desy))  # ... and reaped
    backends = Backends()
    assert process(services, job, backends) == "discard"
    backends.close()
    assert lake.stored("DESY-DISK") == {} and lake.temp_files() == []
    assert [x.state for x in lake.transfers()] == ["CANCELLED"]
    assert lake.events("transfer.done") == []
