"""Issue 12, the database goes away: PostgreSQL restarts, then stops for a while, in the middle of a 500-file rule.

A real lake (API, two built-in endpoints, every daemon in threads) runs on the test PostgreSQL. Once the rule's
copies are under way the cluster is restarted (`pg_ctlcluster 15 main restart`: fast mode, sessions terminated
mid-transaction); later it is stopped for a few seconds, while the API must answer 503 with `Retry-After` on
both dialects, promptly, refuse an upload cleanly and itself stay up, then started again. The daemons back off
quietly (one line per outage, no tracebacks) and finish the rule: every replica AVAILABLE, every file on
storage with its adler32, each transfer done once, and no copy made again unless an attempt failed (a copy
that ended while the database was away is verified and accepted when its transfer is claimed again).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import subprocess
import threading
import time
import zlib
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from lake.client import LakeClient
from lake.core.errors import DatabaseUnavailable
from lake.daemons.base import Daemon
from lake.daemons.registry import all_daemons
from lake.db import schema as t
from lake.db.engine import RETRY_AFTER
from lake.db.schema_replication import events, transfers
from lake.logic.transfers import execute
from lake.testing.clients import connect, rucio_login
from lake.testing.clients import login as http_login
from lake.testing.server import RunningLake, running_lake
from lake.testing.waiting import wait_for

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.integration,
    pytest.mark.skipif(not os.environ.get("LAKE_TEST_DATABASE_URL"), reason="needs LAKE_TEST_DATABASE_URL"),
    pytest.mark.skipif(
        shutil.which("pg_ctlcluster") is None or os.geteuid() != 0, reason="restarts PostgreSQL: pg_ctlcluster, root"
    ),
]
FILES = 500
SCOPE, DATASET = "user.alice", "restart"
SOURCE, DEST = "CERN-DISK", "DESY-DISK"
DOWN_FOR = 5.0  # seconds the cluster stays stopped
WAIT = 90.0  # seconds at most for the rule to finish once the database is back


def pg_cluster(action: str) -> int:
    """`pg_ctlcluster 15 main ACTION`; its exit code (`status`: 0 when running, 3 when stopped)."""
    command = ["pg_ctlcluster", "15", "main", action]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0 or action == "status", done.stderr
    return done.returncode


class CopyCounter:
    """How many times each transfer's bytes were actually copied (a wrapper around the real copy step)."""

    def __init__(self) -> None:
        self.copies: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._copy = execute._copy

    def __call__(self, job, *args):  # type: ignore[no-untyped-def]
        with self._lock:
            self.copies[job.transfer.id] += 1
        self._copy(job, *args)


def fast_daemons() -> dict[str, Daemon]:
    """The registered daemons with short idle intervals (the embedded lake has no interval setting)."""
    return {name: dataclasses.replace(d, interval=min(d.interval, 0.5)) for name, d in all_daemons().items()}


@pytest.fixture
def lake(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningLake]:
    monkeypatch.setattr("lake.server.embedded.all_daemons", fast_daemons)
    try:
        with running_lake(tmp_path / "lake", endpoints=2, database_url=database_url, daemons=True) as running:
            yield running
    finally:
        if pg_cluster("status") != 0:  # whatever happened, leave the cluster running for the tests after this one
            pg_cluster("start")


def login(lake: RunningLake, client: httpx.Client) -> httpx.Client:
    """`client` logged in as the lake's user on both dialects."""
    return rucio_login(http_login(client, lake.user, lake.user_password), lake.user, lake.user_password)


def client(lake: RunningLake, tmp_path: Path) -> LakeClient:
    return connect(lake, tmp_path, lake.user, lake.user_password)


def upload_dataset(lake: RunningLake, tmp_path: Path) -> dict[str, bytes]:
    """FILES small files, each different, uploaded through the client into one dataset on SOURCE."""
    folder = tmp_path / "upload"
    folder.mkdir()
    files = {f"f{i:03d}.dat": os.urandom(512 + i) for i in range(FILES)}
    for name, data in files.items():
        (folder / name).write_bytes(data)
    with client(lake, tmp_path) as uploader:
        results = uploader.upload(sorted(folder.iterdir()), SOURCE, SCOPE, DATASET, parallel=16)
    assert all(r.error is None for r in results), [r for r in results if r.error][:3]
    return files


def done_transfers(lake: RunningLake, rule_id: str) -> int:
    query = select(func.count()).where(transfers.c.rule_id == rule_id, transfers.c.state == "DONE")
    with lake.lake.services.db.transaction() as conn:
        return int(conn.execute(query).scalar_one())


def assert_refused_cleanly(response: httpx.Response, elapsed: float, rucio: bool = False) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["Retry-After"] == str(RETRY_AFTER)
    if rucio:
        assert response.headers["ExceptionClass"] == "DatabaseException"
    else:
        assert response.json()["code"] == "DatabaseUnavailable"
    assert elapsed < 6.0, f"a request took {elapsed:.1f} s while the database was down"


def probe_while_down(api: httpx.Client, uploader: LakeClient, late: Path, rule_id: str) -> None:
    """The API during the outage: itself alive, every database-backed answer a prompt, clean 503; the client's
    upload raises DatabaseUnavailable before sending any byte."""
    ticket = {"rse": SOURCE, "files": [{"scope": SCOPE, "name": "other.dat", "bytes": 1, "adler32": "00000001"}]}
    requests = [
        ("GET", f"/v1/rules/{rule_id}", None, False),
        ("POST", "/v1/uploads", ticket, False),
        ("GET", f"/v1/replicas/{SCOPE}/f000.dat", None, False),  # a streamed listing
        ("GET", f"/rucio/rules/{rule_id}", None, True),
    ]
    assert api.get("/v1/ping").status_code == 200
    for method, path, body, rucio in requests:
        started = time.monotonic()
        response = api.request(method, path, json=body)
        assert_refused_cleanly(response, time.monotonic() - started, rucio)
    with pytest.raises(DatabaseUnavailable):
        uploader.upload([late], SOURCE, SCOPE)


def assert_rule_done_once_per_file(lake: RunningLake, rule_id: str, files: dict[str, bytes], copies: CopyCounter):
    with lake.lake.services.db.transaction() as conn:
        rows = list(conn.execute(select(transfers).where(transfers.c.rule_id == rule_id)))
        done = Counter(conn.execute(select(events.c.transfer_id).where(events.c.kind == "transfer.done")).scalars())
        failed = Counter(conn.execute(select(events.c.transfer_id).where(events.c.kind == "transfer.failed")).scalars())
        replicas = conn.execute(
            select(t.replicas.c.name, t.replicas.c.state)
            .join(t.rses, t.rses.c.id == t.replicas.c.rse_id)
            .where(t.rses.c.name == DEST)
        ).all()
    assert sorted(row.name for row in rows) == sorted(files)  # one transfer per file, none lost, none added
    assert {row.state for row in rows} == {"DONE"}
    assert all(done[row.id] == 1 for row in rows), "a transfer was finished twice"
    assert all(copies.copies[row.id] <= 1 + failed[row.id] for row in rows), "a good copy was made again"
    assert sorted(replicas) == sorted((name, "AVAILABLE") for name in files)


def assert_on_storage(lake: RunningLake, files: dict[str, bytes]) -> None:
    """Every file at the destination, with the source's adler32 (the bytes themselves, read back)."""
    stored = {p.name: p for p in (lake.settings.data_dir / "storage" / DEST).rglob("*.dat")}
    assert sorted(stored) == sorted(files)
    for name, data in files.items():
        assert zlib.adler32(stored[name].read_bytes()) == zlib.adler32(data), name


def test_a_postgres_restart_mid_rule_ends_with_the_rule_ok_and_every_replica_verified(
    lake: RunningLake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="lake")
    files = upload_dataset(lake, tmp_path)
    copies = CopyCounter()
    monkeypatch.setattr(execute, "_copy", copies)
    late = tmp_path / "late.dat"
    late.write_bytes(b"uploaded while the database was away, then again")
    with httpx.Client(base_url=lake.url, timeout=30) as api, client(lake, tmp_path) as uploader:
        login(lake, api)
        rule = api.post("/v1/rules", json={"scope": SCOPE, "name": DATASET, "rse_expression": DEST})
        assert rule.status_code == 201, rule.text
        rule_id = rule.json()["id"]
        wait_for(lambda: done_transfers(lake, rule_id) >= 20, timeout=30, step=0.02, what="the first copies")
        pg_cluster("restart")  # sessions terminated mid-transaction, back within a second or two
        wait_for(lambda: done_transfers(lake, rule_id) >= 150, timeout=60, step=0.02, what="more copies")
        pg_cluster("stop")  # and now for long enough to look at the API meanwhile
        stopped, started_before = time.monotonic(), len(copies.copies)
        try:
            probe_while_down(api, uploader, late, rule_id)
            time.sleep(max(0.0, DOWN_FOR - (time.monotonic() - stopped)))
        finally:
            pg_cluster("start")
        wait_for(lambda: api.get(f"/v1/rules/{rule_id}").json().get("state") == "OK", WAIT, 0.1, "the rule to be OK")
        assert [r.state for r in uploader.upload([late], SOURCE, SCOPE)] == ["AVAILABLE"]  # the refusal left nothing
    assert started_before < FILES, "every copy had started before the database went away: nothing was tested"
    assert_rule_done_once_per_file(lake, rule_id, files, copies)
    assert_on_storage(lake, files)
    outages = [r.levelno for r in caplog.records if r.name == "lake.daemons.runner"
               and "transfer_worker" in r.getMessage() and "database" in r.getMessage()]  # fmt: skip
    assert outages and outages == [logging.WARNING, logging.INFO] * (len(outages) // 2), outages
    errors = [r.getMessage() for r in caplog.records if r.name.startswith("lake") and r.levelno >= logging.ERROR]
    assert not errors, errors[:3]  # backed off quietly: no traceback per failed iteration or copy
