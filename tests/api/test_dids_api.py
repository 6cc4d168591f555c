"""DIDs: collections, attach/detach rules, content, parents, status, metadata, search."""

import pytest

from lake.testing.clients import lines

ADLER = "0a1b2c3d"


@pytest.fixture
def catalog(root_api, user_api):
    """An RSE, and files f1..f4 registered in alice's scope."""
    assert root_api.post("/v1/rses", json={"name": "SITE-A"}).status_code == 201
    files = [{"scope": "user.alice", "name": f"f{i}", "bytes": 10 * i, "adler32": ADLER,
              "meta": {"run": 100 + i, "kind": "raw" if i % 2 else "calib"}} for i in range(1, 5)]  # fmt: skip
    r = user_api.post("/v1/replicas/register", json={"rse": "SITE-A", "files": files})
    assert r.status_code == 200, r.text
    return user_api


def add(api, name, kind="DATASET", **extra):
    return api.post("/v1/dids", json={"scope": "user.alice", "name": name, "type": kind, **extra})


def refs(*names):
    return {"dids": [{"scope": "user.alice", "name": n} for n in names]}


def test_dataset_is_created_open_and_empty(catalog):
    body = add(catalog, "ds").json()
    assert body["is_open"] is True and body["length"] == 0 and body["account"] == "alice"


def test_attaching_files_updates_length_and_bytes(catalog):
    add(catalog, "ds")
    assert catalog.post("/v1/contents/user.alice/ds", json=refs("f1", "f2")).json() == {"attached": 2}
    ds = catalog.get("/v1/dids/user.alice/ds").json()
    assert ds["length"] == 2 and ds["bytes"] == 30


def test_closed_dataset_refuses_attach(catalog):
    add(catalog, "ds")
    catalog.put("/v1/status/user.alice/ds", json={"open": False})
    r = catalog.post("/v1/contents/user.alice/ds", json=refs("f1"))
    assert r.status_code == 409 and r.json()["code"] == "ClosedCollection"


def test_only_admin_reopens_a_closed_dataset(catalog, root_api):
    add(catalog, "ds")
    catalog.put("/v1/status/user.alice/ds", json={"open": False})
    assert catalog.put("/v1/status/user.alice/ds", json={"open": True}).json()["code"] == "PermissionDenied"
    assert root_api.put("/v1/status/user.alice/ds", json={"open": True}).json()["is_open"] is True


def test_dataset_cannot_contain_a_dataset(catalog):
    add(catalog, "ds")
    add(catalog, "ds2")
    r = catalog.post("/v1/contents/user.alice/ds", json=refs("ds2"))
    assert r.status_code == 400 and r.json()["code"] == "InvalidInput"


def test_container_cycle_is_refused(catalog):
    add(catalog, "c1", "CONTAINER")
    add(catalog, "c2", "CONTAINER")
    assert catalog.post("/v1/contents/user.alice/c1", json=refs("c2")).status_code == 200
    r = catalog.post("/v1/contents/user.alice/c2", json=refs("c1"))
    assert r.json()["code"] == "UnsupportedOperation" and "cycle" in r.json()["message"]
    assert catalog.post("/v1/contents/user.alice/c1", json=refs("c1")).json()["code"] == "UnsupportedOperation"


def test_attaching_twice_is_a_duplicate(catalog):
    add(catalog, "ds")
    catalog.post("/v1/contents/user.alice/ds", json=refs("f1"))
    assert catalog.post("/v1/contents/user.alice/ds", json=refs("f1")).json()["code"] == "AlreadyExists"


def test_attaching_unknown_did_is_not_found(catalog):
    add(catalog, "ds")
    r = catalog.post("/v1/contents/user.alice/ds", json=refs("nope"))
    assert r.status_code == 404 and r.json()["code"] == "DIDNotFound"


def test_detach_removes_content_and_unknown_child_is_reported(catalog):
    add(catalog, "ds")
    catalog.post("/v1/contents/user.alice/ds", json=refs("f1", "f2"))
    assert catalog.post("/v1/detach/user.alice/ds", json=refs("f1")).json() == {"detached": 1}
    assert [d["name"] for d in lines(catalog.get("/v1/contents/user.alice/ds"))] == ["f2"]
    assert catalog.post("/v1/detach/user.alice/ds", json=refs("f1")).json()["code"] == "DIDNotFound"


def test_recursive_content_and_files_walk_containers(catalog):
    add(catalog, "ds1")
    add(catalog, "ds2")
    add(catalog, "top", "CONTAINER")
    catalog.post("/v1/contents/user.alice/ds1", json=refs("f1", "f2"))
    catalog.post("/v1/contents/user.alice/ds2", json=refs("f2", "f3"))
    catalog.post("/v1/contents/user.alice/top", json=refs("ds1", "ds2"))
    direct = {d["name"] for d in lines(catalog.get("/v1/contents/user.alice/top"))}
    assert direct == {"ds1", "ds2"}
    deep = {d["name"] for d in lines(catalog.get("/v1/contents/user.alice/top?recursive=true"))}
    assert deep == {"ds1", "ds2", "f1", "f2", "f3"}
    files = sorted(d["name"] for d in lines(catalog.get("/v1/files/user.alice/top")))
    assert files == ["f1", "f2", "f3"]
    parents = {d["name"] for d in lines(catalog.get("/v1/parents/user.alice/f2"))}
    assert parents == {"ds1", "ds2"}


def test_names_are_never_reused(catalog):
    assert add(catalog, "ds").status_code == 201
    r = add(catalog, "ds")
    assert r.status_code == 409 and r.json()["code"] == "DuplicateDID"
    assert add(catalog, "f1").json()["code"] == "DuplicateDID"


def test_bad_did_name_and_unknown_scope_are_clear_errors(catalog):
    assert add(catalog, "-bad name").json()["code"] == "InvalidName"
    r = catalog.post("/v1/dids", json={"scope": "nosuch", "name": "x", "type": "DATASET"})
    assert r.status_code == 404 and r.json()["code"] == "ScopeNotFound"


def test_other_users_cannot_write_in_my_scope(catalog, root_api, services):
    root_api.post("/v1/accounts", json={"name": "bob", "password": "bob-password"})
    r = root_api.post("/v1/auth/token", json={"username": "bob", "password": "bob-password"})
    headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
    r = root_api.post("/v1/dids", json={"scope": "user.alice", "name": "x", "type": "DATASET"}, headers=headers)
    assert r.status_code == 403 and r.json()["code"] == "PermissionDenied"


def test_lifetime_sets_expiry(catalog):
    body = add(catalog, "tmp", lifetime=3600).json()
    assert body["expired_at"] is not None


def test_metadata_roundtrip_and_did_with_slashes(catalog):
    add(catalog, "run/2026/ds", meta={"project": "cta", "run": 7})
    assert catalog.get("/v1/meta/user.alice/run/2026/ds").json() == {"project": "cta", "run": 7}
    catalog.post("/v1/meta/user.alice/run/2026/ds", json={"meta": {"run": 8, "good": True}})
    assert catalog.get("/v1/dids/user.alice/run/2026/ds?meta=true").json()["meta"] == {
        "project": "cta", "run": 8, "good": True}  # fmt: skip


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("run=101", {"f1"}),
        ("run!=101", {"f2", "f3", "f4"}),
        ("run>102", {"f3", "f4"}),
        ("run>=102,kind=calib", {"f2", "f4"}),
        ("run<102;run>103", {"f1", "f4"}),
        ("run<=101", {"f1"}),
        ("kind=ra*", {"f1", "f3"}),
        ("name=f*,kind!=raw", {"f2", "f4"}),
        ("run.gt=103", {"f4"}),
        ("type=FILE,name=f1", {"f1"}),
    ],
)
def test_search_filters(catalog, expression, expected):
    found = {d["name"] for d in lines(catalog.get("/v1/search/user.alice", params={"filter": expression}))}
    assert found == expected


def test_search_by_type_and_bad_filter(catalog):
    add(catalog, "ds")
    found = {d["name"] for d in lines(catalog.get("/v1/search/user.alice?type=dataset"))}
    assert found == {"ds"}
    r = catalog.get("/v1/search/user.alice", params={"filter": "run<ab*"})
    assert r.status_code == 400 and r.json()["code"] == "InvalidFilter"


def test_unknown_did_is_not_found(catalog):
    r = catalog.get("/v1/dids/user.alice/none")
    assert r.status_code == 404 and r.json()["code"] == "DIDNotFound"
    assert catalog.get("/v1/contents/user.alice/none").json()["code"] == "DIDNotFound"
