"""The reaper against a real embedded lake: uploaded files leave the endpoint's disk and the catalog."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from lake.client import LakeClient
from lake.core.lfn2pfn import lfn2path
from lake.core.models import ProtocolIn
from lake.core.replication import RuleIn
from lake.daemons.base import DaemonContext
from lake.daemons.reaper import DAEMON as REAPER
from lake.db.schema_replication import events
from lake.testing.clients import connect
from lake.testing.net import free_ports
from lake.testing.server import RunningLake, running_lake

pytestmark = pytest.mark.integration

SCOPE = "user.alice"


@pytest.fixture
def lake(tmp_path: Path) -> Iterator[RunningLake]:
    with running_lake(tmp_path, endpoints=2, daemons=False) as running:
        yield running


@pytest.fixture
def alice(lake: RunningLake, tmp_path: Path) -> Iterator[LakeClient]:
    with connect(lake, tmp_path, lake.user, lake.user_password) as client:
        yield client


def upload(client: LakeClient, tmp_path: Path, rse: str, dataset: str, names: list[str]) -> None:
    folder = tmp_path / dataset
    folder.mkdir()
    for name in names:
        (folder / name).write_text(f"{name}\n" * 50)
    results = client.upload([folder / name for name in names], rse, SCOPE, dataset)
    assert all(r.error is None for r in results)


def on_disk(lake: RunningLake, rse: str, name: str) -> Path:
    return lake.settings.data_dir / "storage" / rse / lfn2path(SCOPE, name)


def drop_upload_rules(client: LakeClient, names: list[str]) -> None:
    for name in names:
        for rule in client.list_rules(scope=SCOPE, name=name):
            client.delete_rule(rule.id)


def run_reaper(lake: RunningLake, greedy: bool = False) -> bool:
    return REAPER.run_once(DaemonContext(services=lake.lake.services, instance="test-reaper", greedy=greedy))


def deletion_events(lake: RunningLake, kind: str) -> list:
    with lake.lake.services.db.transaction() as conn:
        return conn.execute(select(events).where(events.c.kind == kind)).all()


def test_deleting_a_purging_rule_lets_the_reaper_remove_files_no_other_rule_holds(lake, alice, tmp_path):
    rse = lake.rses[0]
    names = ["f0", "f1", "kept"]
    upload(alice, tmp_path, rse, "ds", names)
    assert all(on_disk(lake, rse, n).is_file() for n in names)
    rule = alice.add_rule(RuleIn(scope=SCOPE, name="ds", rse_expression=rse, copies=1, purge_replicas=True))
    assert rule.state == "OK"
    drop_upload_rules(alice, ["f0", "f1"])
    alice.delete_rule(rule.id)
    assert run_reaper(lake) is True
    assert not on_disk(lake, rse, "f0").exists() and not on_disk(lake, rse, "f1").exists()
    assert on_disk(lake, rse, "kept").is_file()
    assert [r.name for r in alice.list_replicas(SCOPE, "ds")] == ["kept"]
    assert sorted((e.name, e.bytes, e.dest_rse) for e in deletion_events(lake, "deletion.done")) == [
        ("f0", 150, rse), ("f1", 150, rse)]  # fmt: skip
    assert run_reaper(lake) is False


def test_storage_down_during_deletion_keeps_the_replica_until_it_is_back(lake, alice, tmp_path):
    rse = lake.rses[1]
    upload(alice, tmp_path, rse, "ds2", ["g"])
    drop_upload_rules(alice, ["g"])
    with connect(lake, tmp_path, "root", lake.root_password) as root:
        http = next(p for p in root.get_rse(rse).protocols if p.scheme == "http")  # https stays (priority 2)
        root.delete_protocol(rse, "http")
        root.add_protocol(rse, ProtocolIn(scheme="http", hostname=http.hostname, port=free_ports(1)[0]))
        assert run_reaper(lake, greedy=True) is False
        [replica] = alice.list_replicas(SCOPE, "g")
        assert replica.state == "AVAILABLE" and on_disk(lake, rse, "g").is_file()
        [failed] = deletion_events(lake, "deletion.failed")
        assert (failed.name, failed.error_category, failed.dest_rse) == ("g", "STORAGE_ERROR", rse)
        root.delete_protocol(rse, "http")
        root.add_protocol(rse, ProtocolIn(scheme="http", hostname=http.hostname, port=http.port))
    assert run_reaper(lake, greedy=True) is True
    assert not on_disk(lake, rse, "g").exists() and list(alice.list_replicas(SCOPE, "g")) == []
