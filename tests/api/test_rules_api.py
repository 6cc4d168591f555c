"""Rules, transfers, RSE usage, account limits and usage, and events over the native API."""

from functools import partial

import pytest

from lake.testing import clients
from lake.testing.factories import add_dataset, add_rses

SITES = {
    "CERN-DISK": {"country": "CH", "tier": 0},
    "DESY-DISK": {"country": "DE", "tier": 1},
    "KIT-DISK": {"country": "DE", "tier": 1},
}
RULE = {"scope": "user.alice", "name": "ds", "rse_expression": "tier=1", "copies": 2}


@pytest.fixture
def lake(services):
    """Three RSEs with protocols and alice's dataset `ds` of three 100-byte files on CERN-DISK."""
    with services.db.transaction() as conn:
        add_rses(conn, SITES)
        add_dataset(conn, "ds", ["a", "b", "c"], "CERN-DISK")
    return services


lines = partial(clients.lines, media_type="application/x-ndjson")


def error(response, status, code):
    assert (response.status_code, response.json()["code"]) == (status, code), response.text


def add_rule(client, **changes):
    r = client.post("/v1/rules", json={**RULE, **changes})
    assert r.status_code == 201, r.text
    return r.json()


def test_rule_with_two_copies_is_created_listed_and_holds_six_locks(lake, user_api):
    rule = add_rule(user_api)
    assert rule["account"] == "alice" and rule["state"] == "REPLICATING" and rule["locks_replicating_cnt"] == 6
    assert user_api.get(f"/v1/rules/{rule['id']}").json() == rule
    assert [x["id"] for x in lines(user_api.get("/v1/rules", params={"account": "alice"}))] == [rule["id"]]
    assert lines(user_api.get("/v1/rules", params={"scope": "user.alice", "name": "ds", "state": "ok"})) == []
    locks = lines(user_api.get(f"/v1/rules/{rule['id']}/locks"))
    assert len(locks) == 6 and {x["rse"] for x in locks} == {"DESY-DISK", "KIT-DISK"}


def test_rule_errors_have_stable_codes(lake, user_api):
    add_rule(user_api)
    error(user_api.post("/v1/rules", json=RULE), 409, "DuplicateRule")
    error(user_api.post("/v1/rules", json={**RULE, "rse_expression": "country=DE", "copies": 3}), 409,
          "InsufficientTargetRSEs")  # fmt: skip
    error(user_api.post("/v1/rules", json={**RULE, "rse_expression": "country=XX"}), 400, "InvalidRSEExpression")
    error(user_api.post("/v1/rules", json={**RULE, "name": "nope"}), 404, "DIDNotFound")
    error(user_api.post("/v1/rules", json={**RULE, "copies": 0}), 400, "InvalidInput")
    error(user_api.get("/v1/rules/missing"), 404, "RuleNotFound")
    error(user_api.get("/v1/rules/missing/locks"), 404, "RuleNotFound")
    error(user_api.delete("/v1/rules/missing"), 404, "RuleNotFound")


def test_another_users_rule_can_be_read_but_not_changed(lake, root_api, user_api):
    rule = add_rule(root_api, rse_expression="DESY-DISK", copies=1)
    assert rule["account"] == "root"
    assert user_api.get(f"/v1/rules/{rule['id']}").status_code == 200
    error(user_api.patch(f"/v1/rules/{rule['id']}", json={"priority": 1}), 403, "PermissionDenied")
    error(user_api.delete(f"/v1/rules/{rule['id']}"), 403, "PermissionDenied")
    error(user_api.post("/v1/rules", json={**RULE, "account": "root"}), 403, "PermissionDenied")


def test_update_locks_suspends_and_resumes_a_rule(lake, user_api):
    rule_id = add_rule(user_api)["id"]
    changed = user_api.patch(f"/v1/rules/{rule_id}", json={"locked": True, "priority": 5, "lifetime": 3600})
    assert changed.status_code == 200
    assert changed.json()["locked"] is True and changed.json()["priority"] == 5 and changed.json()["expires_at"]
    assert user_api.patch(f"/v1/rules/{rule_id}", json={"suspended": True}).json()["state"] == "SUSPENDED"
    assert user_api.patch(f"/v1/rules/{rule_id}", json={"suspended": False}).json()["state"] == "REPLICATING"
    error(user_api.patch(f"/v1/rules/{rule_id}", json={"priority": 9}), 400, "InvalidInput")


def test_locked_rule_is_deleted_only_when_unlocked_or_forced(lake, user_api):
    rule_id = add_rule(user_api, locked=True)["id"]
    error(user_api.delete(f"/v1/rules/{rule_id}"), 400, "InvalidInput")
    assert user_api.delete(f"/v1/rules/{rule_id}", params={"force": "true"}).status_code == 204
    error(user_api.get(f"/v1/rules/{rule_id}"), 404, "RuleNotFound")


def test_transfers_of_a_rule_are_listed_with_rse_names(lake, user_api):
    rule_id = add_rule(user_api)["id"]
    queued = lines(user_api.get("/v1/transfers", params={"rule_id": rule_id}))
    assert len(queued) == 6 and {x["state"] for x in queued} == {"QUEUED"}
    assert {x["dest_rse"] for x in queued} == {"DESY-DISK", "KIT-DISK"} and all(x["bytes"] == 100 for x in queued)
    assert len(lines(user_api.get("/v1/transfers", params={"rse": "KIT-DISK", "state": "queued"}))) == 3
    assert len(lines(user_api.get("/v1/transfers", params={"limit": 2}))) == 2
    assert lines(user_api.get("/v1/transfers", params={"state": "DONE"})) == []
    error(user_api.get("/v1/transfers", params={"state": "BOGUS"}), 400, "InvalidInput")
    error(user_api.get("/v1/transfers", params={"rse": "NOWHERE"}), 404, "RSENotFound")


def test_rse_usage_counts_files_and_bytes_per_replica_state(lake, user_api):
    add_rule(user_api)
    assert user_api.get("/v1/rses/CERN-DISK/usage").json() == {
        "rse": "CERN-DISK", "files": 3, "bytes": 300, "by_state": [{"state": "AVAILABLE", "files": 3, "bytes": 300}],
    }  # fmt: skip
    assert user_api.get("/v1/rses/KIT-DISK/usage").json()["by_state"] == [
        {"state": "COPYING", "files": 3, "bytes": 300}
    ]
    error(user_api.get("/v1/rses/NOWHERE/usage"), 404, "RSENotFound")


def test_admin_sets_limits_and_usage_shows_what_remains(lake, root_api, user_api):
    error(user_api.put("/v1/accounts/alice/limits", json={"rse_expression": "KIT-DISK", "bytes": 10}), 403,
          "PermissionDenied")  # fmt: skip
    r = root_api.put("/v1/accounts/alice/limits", json={"rse_expression": "KIT-DISK", "bytes": 1000})
    assert r.json() == {"account": "alice", "rse_expression": "KIT-DISK", "bytes": 1000, "is_local": True}
    global_limit = {"rse_expression": "tier=1", "bytes": 5000}
    assert root_api.put("/v1/accounts/alice/limits", json=global_limit).status_code == 200
    assert {(x["rse_expression"], x["is_local"]) for x in lines(user_api.get("/v1/accounts/alice/limits"))} == {
        ("KIT-DISK", True), ("tier=1", False)
    }  # fmt: skip
    add_rule(user_api)
    usage = {x["rse"]: x for x in lines(user_api.get("/v1/accounts/alice/usage"))}
    assert usage["KIT-DISK"] == {"account": "alice", "rse": "KIT-DISK", "files": 3, "bytes": 300,
                                 "bytes_limit": 1000, "bytes_remaining": 700}  # fmt: skip
    assert usage["DESY-DISK"]["bytes"] == 300 and "bytes_limit" not in usage["DESY-DISK"]
    error(user_api.get("/v1/accounts/nobody/usage"), 404, "AccountNotFound")
    error(root_api.put("/v1/accounts/alice/limits", json={"rse_expression": "country=XX", "bytes": 1}), 400,
          "InvalidRSEExpression")  # fmt: skip


def test_rule_over_quota_is_refused(lake, root_api, user_api):
    root_api.put("/v1/accounts/alice/limits", json={"rse_expression": "tier=1", "bytes": 250})
    error(user_api.post("/v1/rules", json={**RULE, "copies": 1}), 413, "QuotaExceeded")
    assert lines(user_api.get("/v1/rules")) == []


def test_events_filter_by_kind_rule_and_position(lake, user_api):
    rule_id = add_rule(user_api)["id"]
    user_api.patch(f"/v1/rules/{rule_id}", json={"priority": 1})
    kinds = [x["kind"] for x in lines(user_api.get("/v1/events", params={"kind": "rule.*", "rule_id": rule_id}))]
    assert kinds == ["rule.created", "rule.updated"]
    every = lines(user_api.get("/v1/events", params={"rule_id": rule_id}))
    assert [x["kind"] for x in every].count("transfer.queued") == 6
    created = next(x for x in every if x["kind"] == "rule.created")
    assert created["payload"]["copies"] == 2
    after = lines(user_api.get("/v1/events", params={"rule_id": rule_id, "since_id": created["id"], "limit": 1}))
    assert [x["kind"] for x in after] == ["rule.updated"]


def test_reduce_and_move_change_the_rule(lake, user_api):
    rule_id = add_rule(user_api)["id"]
    reduced = user_api.post(f"/v1/rules/{rule_id}/reduce", json={"copies": 1})
    assert reduced.status_code == 200, reduced.text
    assert reduced.json()["copies"] == 1
    error(user_api.post(f"/v1/rules/{rule_id}/reduce", json={"copies": 0}), 400, "InvalidInput")
    error(user_api.post("/v1/rules/missing/move", json={"rse_expression": "CERN-DISK"}), 404, "RuleNotFound")
    moved = user_api.post(f"/v1/rules/{rule_id}/move", json={"rse_expression": "CERN-DISK"})
    assert moved.status_code == 200, moved.text
    child = moved.json()
    assert child["id"] != rule_id and child["rse_expression"] == "CERN-DISK" and child["copies"] == 1
    assert user_api.get(f"/v1/rules/{rule_id}").json()["child_rule_id"] == child["id"]
