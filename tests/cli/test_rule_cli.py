"""`lake rule|transfer|account` and `lake rse usage` against the API app in-process."""

from __future__ import annotations

import pytest

from lake.client import LakeClient
from lake.testing.accounts import ROOT_PASSWORD, USER, USER_PASSWORD
from lake.testing.cli import InProcessCli
from lake.testing.factories import add_dataset, add_rses

SITES = {"CERN-DISK": {"tier": 0}, "DESY-DISK": {"tier": 1}, "KIT-DISK": {"tier": 1}}


@pytest.fixture
def alice(services, api) -> InProcessCli:
    with services.db.transaction() as conn:
        add_rses(conn, SITES)
        add_dataset(conn, "ds", ["a", "b", "c"], "CERN-DISK")
    return InProcessCli(api, USER, USER_PASSWORD)


@pytest.fixture
def root(api) -> InProcessCli:
    return InProcessCli(api, "root", ROOT_PASSWORD)


def test_rule_add_prints_the_id_and_list_show_locks_find_it(alice):
    rule_id = alice.run("rule", "add", "user.alice:ds", "--copies", "2", "--rse", "tier=1").stdout.strip()
    assert len(rule_id) == 32
    assert [r["id"] for r in alice.ndjson("rule", "list", "--did", "user.alice:ds")] == [rule_id]
    assert alice.ndjson("rule", "list", "--state", "OK") == []
    shown = alice.run("rule", "show", rule_id).stdout
    assert "REPLICATING" in shown and "locks_replicating_cnt" in shown
    locks = alice.ndjson("rule", "locks", rule_id)
    assert len(locks) == 6 and {x["rse"] for x in locks} == {"DESY-DISK", "KIT-DISK"}
    table = alice.run("rule", "list", "--account", "alice").stdout
    assert rule_id in table and "user.alice:ds" in table and "0/6/0" in table


def test_rule_add_options_reach_the_rule(alice):
    args = ["--rse", "KIT-DISK", "--grouping", "none", "--lifetime", "600", "--priority", "4", "--activity", "Express",
            "--source", "CERN-DISK", "--purge", "--locked", "--comment", "keep"]  # fmt: skip
    rule = alice.json("rule", "add", "user.alice:ds", *args)
    assert (rule["grouping"], rule["priority"], rule["activity"], rule["comments"]) == ("NONE", 4, "Express", "keep")
    assert rule["locked"] and rule["purge_replicas"] and rule["expires_at"]
    assert rule["source_replica_expression"] == "CERN-DISK"


def test_rule_update_reduce_move_and_delete(alice):
    rule_id = alice.run("rule", "add", "user.alice:ds", "--copies", "2", "--rse", "tier=1").stdout.strip()
    assert alice.json("rule", "update", rule_id, "--lock", "--priority", "2")["locked"] is True
    assert alice.json("rule", "update", rule_id, "--suspend")["state"] == "SUSPENDED"
    assert alice.json("rule", "update", rule_id, "--resume")["state"] == "REPLICATING"
    alice.run("rule", "update", rule_id, code=2)
    assert "Error [InvalidInput]" in alice.run("rule", "delete", rule_id, code=1).stderr
    alice.run("rule", "update", rule_id, "--unlock")
    assert alice.json("rule", "reduce", rule_id, "--copies", "1")["copies"] == 1
    child = alice.json("rule", "move", rule_id, "--rse", "CERN-DISK")
    assert child["rse_expression"] == "CERN-DISK" and child["state"] == "OK"
    assert f"Deleted rule {child['id']}" in alice.run("rule", "delete", child["id"]).stdout
    assert "Error [RuleNotFound]" in alice.run("rule", "show", child["id"], code=1).stderr


def test_transfer_list_shows_link_attempt_and_filters(alice):
    rule_id = alice.run("rule", "add", "user.alice:ds", "--copies", "2", "--rse", "tier=1").stdout.strip()
    transfers = alice.ndjson("transfer", "list", "--rule", rule_id)
    assert len(transfers) == 6 and {t["state"] for t in transfers} == {"QUEUED"}
    assert len(alice.ndjson("transfer", "list", "--rse", "DESY-DISK", "--state", "queued")) == 3
    table = alice.run("transfer", "list", "--rule", rule_id).stdout
    assert "-> KIT-DISK" in table and "attempt" in table
    assert "Error [RSENotFound]" in alice.run("transfer", "list", "--rse", "NOWHERE", code=1).stderr


def test_rse_usage_per_replica_state(alice):
    alice.run("rule", "add", "user.alice:ds", "--rse", "KIT-DISK")
    usage = alice.json("rse", "usage", "KIT-DISK")
    assert usage == {"rse": "KIT-DISK", "files": 3, "bytes": 300,
                     "by_state": [{"state": "COPYING", "files": 3, "bytes": 300}]}  # fmt: skip
    table = alice.run("rse", "usage", "CERN-DISK").stdout
    assert "AVAILABLE" in table and "total" in table and "300" in table


def test_account_limits_and_usage(alice, root):
    limits = root.ndjson("account", "limits", "alice", "--set", "KIT-DISK=1000", "--set", "tier=1=5000")
    assert {(x["rse_expression"], x["bytes"], x["is_local"]) for x in limits} == {
        ("KIT-DISK", 1000, True), ("tier=1", 5000, False)
    }  # fmt: skip
    assert "Error [PermissionDenied]" in alice.run("account", "limits", "alice", "--set", "KIT-DISK=1", code=1).stderr
    alice.run("account", "limits", "alice", "--set", "KIT-DISK", code=2)
    assert "tier=1" in alice.run("account", "limits", "alice").stdout
    alice.run("rule", "add", "user.alice:ds", "--rse", "KIT-DISK")
    [usage] = alice.ndjson("account", "usage", "alice")
    assert (usage["rse"], usage["bytes"], usage["bytes_remaining"]) == ("KIT-DISK", 300, 700)
    assert root.ndjson("account", "limits", "alice", "--set", "KIT-DISK=-1") == [
        {"account": "alice", "rse_expression": "tier=1", "bytes": 5000, "is_local": False}
    ]


def test_client_raises_rule_errors_by_class_and_streams_events(alice, api):
    from lake.core.errors import InvalidInput, RuleNotFound
    from lake.core.replication import RuleIn

    client = LakeClient(alice.settings, http=api)
    rule = client.add_rule(RuleIn(scope="user.alice", name="ds", rse_expression="KIT-DISK", locked=True))
    with pytest.raises(InvalidInput):
        client.delete_rule(rule.id)
    client.delete_rule(rule.id, force=True)
    with pytest.raises(RuleNotFound):
        client.get_rule(rule.id)
    kinds = [e.kind for e in client.list_events(kind="rule.*", rule_id=rule.id)]
    assert kinds == ["rule.created", "rule.deleted"]
    first, second, *_ = client.list_events(rule_id=rule.id)
    assert [e.id for e in client.list_events(rule_id=rule.id, since_id=first.id, limit=1)] == [second.id]
