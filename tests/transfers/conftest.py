"""A real embedded lake (API + built-in HTTP endpoints as RSEs, no background daemons) and a harness that
uploads files through the client, adds rules and drives the transfer daemons' `run_once` by hand."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from lake.client import LakeClient
from lake.core.models import ProtocolDomains
from lake.core.partition import Partition
from lake.core.replication import RuleIn, RuleOut
from lake.daemons import rule_repairer, transfer_worker
from lake.daemons.base import DaemonContext
from lake.db import schema as t
from lake.db.schema_replication import events, transfers
from lake.logic import heartbeats
from lake.logic.catalog import rses
from lake.logic.rules import repair, rules
from lake.logic.transfers import batch, outcome
from lake.storage.localfs import INTERNAL_PREFIX
from lake.testing.accounts import ALICE, ROOT
from lake.testing.clients import connect
from lake.testing.server import RunningLake, running_lake

SCOPE = "user.alice"


class Harness:
    """Test-side handle on a running lake: data in, daemons stepped, state and storage inspected."""

    def __init__(self, running: RunningLake, tmp_path: Path) -> None:
        self.running = running
        self.services = running.lake.services
        self.tmp_path = tmp_path

    # -- data in ----------------------------------------------------------------------------------------------
    def client(self) -> LakeClient:
        return connect(self.running, self.tmp_path, self.running.user, self.running.user_password)

    def upload(self, rse: str, dataset: str, files: dict[str, bytes]) -> None:
        """Upload real files into a dataset on one RSE through the python client."""
        folder = self.tmp_path / "upload" / dataset
        folder.mkdir(parents=True)
        for name, data in files.items():
            (folder / name).write_bytes(data)
        with self.client() as client:
            results = client.upload(sorted(folder.iterdir()), rse, SCOPE, dataset)
        assert all(r.error is None for r in results), results

    def add_rule(self, dataset: str, expression: str, copies: int = 1, **extra: Any) -> str:
        spec = RuleIn(scope=SCOPE, name=dataset, rse_expression=expression, copies=copies, **extra)
        with self.services.db.transaction() as conn:
            return rules.add_rule(conn, ALICE, spec, rng=random.Random(7)).id

    def set_protocol(self, rse: str, port: int | None = None, **wan: int | None) -> None:
        """Change the wan priorities of every protocol of the RSE (http and https) and/or point its http
        protocol at another port (e.g. one nobody listens on)."""
        with self.services.db.transaction() as conn:
            for current in rses.get_rse(conn, rse).protocols:
                rses.delete_protocol(conn, ROOT, rse, current.scheme)
                moved = port if port and current.scheme == "http" else current.port
                rses.add_protocol(conn, ROOT, rse, current.model_copy(update={
                    "port": moved, "wan": ProtocolDomains(**current.wan.model_dump() | wan),
                }))  # fmt: skip

    def protocol_port(self, rse: str) -> int:
        with self.services.db.transaction() as conn:
            return next(p.port for p in rses.get_rse(conn, rse).protocols if p.scheme == "http")

    # -- daemons ------------------------------------------------------------------------------------------------
    def work(self, instance: str = "worker-a", partition: Partition | None = None) -> bool:
        """One transfer_worker iteration as a live instance (it beats first, as the runner does)."""
        with self.services.db.transaction() as conn:
            beaten = heartbeats.beat(conn, transfer_worker.DAEMON.name, instance)
        ctx = DaemonContext(services=self.services, instance=instance, partition=partition or beaten)
        return transfer_worker.run_once(ctx)

    def repair(self) -> bool:
        return rule_repairer.run_once(DaemonContext(services=self.services, instance="repairer"))

    def work_until(self, done: Callable[[], bool], timeout: float = 15.0, **kwargs: Any) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            assert time.monotonic() < deadline, "the transfers did not converge in time"
            if not self.work(**kwargs):
                time.sleep(0.05)

    # -- state ---------------------------------------------------------------------------------------------------
    def rule(self, rule_id: str) -> RuleOut:
        with self.services.db.transaction() as conn:
            return rules.get_rule(conn, rule_id)

    def rule_is(self, rule_id: str, state: str) -> Callable[[], bool]:
        return lambda: self.rule(rule_id).state == state

    def transfers(self, **where: Any) -> list[Any]:
        query = select(transfers).where(*(getattr(transfers.c, k) == v for k, v in where.items()))
        with self.services.db.transaction() as conn:
            return list(conn.execute(query.order_by(transfers.c.created_at)))

    def events(self, kind: str) -> list[Any]:
        with self.services.db.transaction() as conn:
            return list(conn.execute(select(events).where(events.c.kind == kind).order_by(events.c.id)))

    def replicas(self, rse: str | None = None) -> list[Any]:
        query = select(t.replicas, t.rses.c.name.label("rse")).join(t.rses, t.rses.c.id == t.replicas.c.rse_id)
        if rse:
            query = query.where(t.rses.c.name == rse)
        with self.services.db.transaction() as conn:
            return list(conn.execute(query))

    # -- storage -------------------------------------------------------------------------------------------------
    def storage_root(self, rse: str) -> Path:
        return self.running.settings.data_dir / "storage" / rse

    def stored(self, rse: str) -> dict[str, bytes]:
        """Every file on the RSE's storage by name (internal temporary files included, to catch them)."""
        root = self.storage_root(rse)
        return {p.name: p.read_bytes() for p in root.rglob("*") if p.is_file()} if root.exists() else {}

    def temp_files(self) -> list[Path]:
        root = self.running.settings.data_dir / "storage"
        return [p for p in root.rglob("*") if p.name.startswith(INTERNAL_PREFIX) and p.is_file()]


@pytest.fixture
def one_by_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """No bulk pulls: every file is its own copy and takes a whole slot of the limits (the per-file path)."""
    monkeypatch.setattr(batch, "SMALL_FILE", -1)


@pytest.fixture
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retries after 50 ms instead of seconds, and the repairer acts on STUCK locks at once."""
    monkeypatch.setattr(outcome, "BACKOFF_BASE", 0.05)
    monkeypatch.setattr(repair, "REPAIR_DELAY", 0.0)


@pytest.fixture
def lake(tmp_path: Path, database_url: str) -> Iterator[Harness]:
    """Four built-in endpoints (CERN, DESY, PIC, INFN-NA); the test steps the daemons itself."""
    with running_lake(tmp_path / "lake", endpoints=4, database_url=database_url, daemons=False) as running:
        yield Harness(running, tmp_path)
