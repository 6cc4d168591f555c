"""Replica registration and listings with PFNs computed by Rucio's hash algorithm."""

import hashlib

import pytest

from lake.testing.clients import lines


@pytest.fixture
def rse(root_api):
    root_api.post("/v1/rses", json={"name": "SITE-A"})
    root_api.post("/v1/rses", json={"name": "SITE-B"})
    for name, port in (("SITE-A", 8443), ("SITE-B", 9443)):
        protocol = {"scheme": "davs", "hostname": "se.example.org", "port": port, "prefix": "/lake"}
        assert root_api.post(f"/v1/rses/{name}/protocols", json=protocol).status_code == 201
    return root_api


def files(n, prefix="f"):
    return [{"scope": "user.alice", "name": f"{prefix}{i}", "bytes": i, "adler32": "1"} for i in range(n)]


def test_bulk_registration_creates_files_replicas_and_attachment(rse, user_api):
    body = {"rse": "SITE-A", "files": files(1200), "dataset": {"scope": "user.alice", "name": "ds"}}
    r = user_api.post("/v1/replicas/register", json=body)
    assert r.json() == {"files": 1200, "replicas": 1200, "attached": 1200}
    assert user_api.get("/v1/dids/user.alice/ds").json()["length"] == 1200
    replicas = lines(user_api.get("/v1/replicas/user.alice/ds"))
    assert len(replicas) == 1200 and {r["state"] for r in replicas} == {"AVAILABLE"}


def test_adler32_is_stored_canonically(rse, user_api):
    user_api.post("/v1/replicas/register", json={"rse": "SITE-A", "files": files(2)})
    assert user_api.get("/v1/dids/user.alice/f1").json()["adler32"] == "00000001"


def test_pfn_matches_rucio_hash_algorithm(rse, user_api):
    user_api.post("/v1/replicas/register", json={"rse": "SITE-A", "files": files(1)})
    digest = hashlib.md5(b"user.alice:f0").hexdigest()
    [replica] = lines(user_api.get("/v1/replicas/user.alice/f0"))
    assert replica["pfn"] == f"davs://se.example.org:8443/lake/user/alice/{digest[:2]}/{digest[2:4]}/f0"


def test_second_replica_of_existing_file_must_match_checksum(rse, user_api):
    user_api.post("/v1/replicas/register", json={"rse": "SITE-A", "files": files(1)})
    assert user_api.post("/v1/replicas/register", json={"rse": "SITE-B", "files": files(1)}).json()["replicas"] == 1
    wrong = [dict(files(1)[0], adler32="deadbeef")]
    r = user_api.post("/v1/replicas/register", json={"rse": "SITE-B", "files": wrong})
    assert r.status_code == 422 and r.json()["code"] == "ChecksumMismatch"
    assert {x["rse"] for x in lines(user_api.get("/v1/replicas/user.alice/f0"))} == {"SITE-A", "SITE-B"}


def test_replica_listing_filters_by_expression_and_state(rse, user_api):
    user_api.post("/v1/replicas/register", json={"rse": "SITE-A", "files": files(3)})
    user_api.post("/v1/replicas/register", json={"rse": "SITE-B", "files": files(3), "state": "COPYING"})
    user_api.post("/v1/dids", json={"scope": "user.alice", "name": "ds", "type": "DATASET"})
    user_api.post("/v1/contents/user.alice/ds", json={"dids": [{"scope": "user.alice", "name": "f1"}]})
    assert {x["rse"] for x in lines(user_api.get("/v1/replicas/user.alice/ds?rse_expression=SITE-B"))} == {"SITE-B"}
    assert [x["state"] for x in lines(user_api.get("/v1/replicas/user.alice/ds?state=copying"))] == ["COPYING"]
    assert user_api.get("/v1/replicas/user.alice/ds?state=weird").json()["code"] == "InvalidInput"


def test_registration_is_all_or_nothing(rse, user_api):
    batch = files(3) + [{"scope": "user.alice", "name": "bad name", "bytes": 1, "adler32": "1"}]
    r = user_api.post("/v1/replicas/register", json={"rse": "SITE-A", "files": batch})
    assert r.json()["code"] == "InvalidName"
    assert user_api.get("/v1/dids/user.alice/f0").json()["code"] == "DIDNotFound"


def test_bad_checksum_and_unknown_rse_are_clear_errors(rse, user_api):
    bad = [dict(files(1)[0], adler32="xyz")]
    assert user_api.post("/v1/replicas/register", json={"rse": "SITE-A", "files": bad}).json()["code"] == "InvalidInput"
    r = user_api.post("/v1/replicas/register", json={"rse": "NOPE", "files": files(1)})
    assert r.json()["code"] == "RSENotFound"
