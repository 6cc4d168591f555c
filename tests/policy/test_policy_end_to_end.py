"""The policy engine end to end on the embedded lake: 200 files uploaded to one RSE, a rule for two copies on
an expression becomes OK by real transfers with checksums verified on storage; deleting the rule lets the
reaper remove the extra replicas from storage and catalog, while the uploads stay."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import pytest

from lake.client import LakeClient
from lake.core.checksums import file_checksums
from lake.core.lfn2pfn import lfn2path
from lake.core.partition import Partition
from lake.core.replication import RuleIn
from lake.core.settings import ClientSettings
from lake.logic.deletion.reaper import reap
from lake.testing import waiting
from lake.testing.server import running_lake

pytestmark = pytest.mark.integration
FILES = 200


wait_for = partial(waiting.wait_for, timeout=90.0, step=0.5)


def stored(lake, rse: str, name: str) -> Path:
    return lake.settings.data_dir / "storage" / rse / lfn2path("user.alice", name)


def test_rule_replicates_a_200_file_dataset_and_the_reaper_cleans_up_after_it(tmp_path: Path) -> None:
    source = tmp_path / "ds"
    source.mkdir()
    for i in range(FILES):
        (source / f"f{i:03d}.dat").write_bytes(f"file {i} ".encode() * (50 + i))
    with running_lake(tmp_path, endpoints=3) as lake:
        client = LakeClient(ClientSettings(url=lake.url, token_file=tmp_path / "token"))
        client.login(lake.user, lake.user_password)
        results = client.upload([source], rse="CERN-DISK", scope="user.alice", dataset="ds")
        assert all(r.state == "AVAILABLE" for r in results) and len(results) == FILES
        rule = client.add_rule(RuleIn(scope="user.alice", name="ds", copies=2, rse_expression="tier=1|tier=2"))
        done = wait_for(lambda: (r := client.get_rule(rule.id)).state == "OK" and r)
        assert done.locks_ok_cnt == 2 * FILES
        replicas = list(client.list_replicas("user.alice", "ds"))
        targets = {r.rse for r in replicas} - {"CERN-DISK"}
        assert len(targets) == 2 and {r.state for r in replicas} == {"AVAILABLE"}
        for name in (f"f{i:03d}.dat" for i in range(FILES)):
            expected = file_checksums(source / name, md5=False)[:2]
            for rse in targets:
                assert file_checksums(stored(lake, rse, name), md5=False)[:2] == expected
        client.delete_rule(rule.id)
        # One full greedy sweep over every RSE (the lake's own reaper instance shares the partitions).
        while reap(lake.lake.services, Partition(), greedy=True):
            pass
        left = list(client.list_replicas("user.alice", "ds"))
        assert {r.rse for r in left} == {"CERN-DISK"} and len(left) == FILES
        for rse in targets:
            assert not any(p.is_file() for p in (lake.settings.data_dir / "storage" / rse).rglob("*"))
        assert all(stored(lake, "CERN-DISK", f"f{i:03d}.dat").is_file() for i in range(FILES))
