"""The caches API: a site's caches, cached replicas reported by a cache, and `site=` on listings and plans."""

from __future__ import annotations

from lake.core.models import ProtocolIn, RegisterFilesIn
from lake.testing.clients import lines
from lake.testing.factories import file_in


def setup_site(root_api, user_api) -> None:
    root_api.post("/v1/rses", json={"name": "CERN-DISK", "attributes": {"site": "CERN"}}).raise_for_status()
    protocol = ProtocolIn(scheme="http", hostname="cern.test", port=8000).model_dump(mode="json")
    root_api.post("/v1/rses/CERN-DISK/protocols", json=protocol).raise_for_status()
    cache = {"name": "DESY-CACHE", "volatile": True, "attributes": {"site": "DESY", "cache_for": "CERN-DISK"}}
    root_api.post("/v1/rses", json=cache).raise_for_status()
    protocol = ProtocolIn(scheme="http", hostname="cache.test", port=8100).model_dump(mode="json")
    root_api.post("/v1/rses/DESY-CACHE/protocols", json=protocol).raise_for_status()
    register = RegisterFilesIn(rse="CERN-DISK", files=[file_in("f")]).model_dump(mode="json")
    user_api.post("/v1/replicas/register", json=register).raise_for_status()


def test_caches_api_lists_site_caches_and_records_cached_replicas(root_api, user_api):
    setup_site(root_api, user_api)
    assert [rse["name"] for rse in root_api.get("/v1/caches", params={"site": "DESY"}).json()] == ["DESY-CACHE"]
    assert root_api.get("/v1/caches", params={"site": "CERN"}).json() == []
    files = {"files": [{"scope": "user.alice", "name": "f"}]}
    assert user_api.post("/v1/caches/DESY-CACHE/replicas", json=files).status_code == 403
    assert root_api.post("/v1/caches/DESY-CACHE/replicas", json=files).json() == {"changed": 1}
    listed = lines(user_api.get("/v1/replicas/user.alice/f"))
    assert sorted((r["rse"], r["cached"]) for r in listed) == [("CERN-DISK", False), ("DESY-CACHE", True)]
    assert root_api.post("/v1/caches/CERN-DISK/replicas", json=files).json()["code"] == "InvalidInput"
    assert root_api.post("/v1/caches/DESY-CACHE/replicas/evicted", json=files).json() == {"changed": 1}


def test_site_parameter_puts_the_cache_first_in_listing_and_plan(root_api, user_api):
    setup_site(root_api, user_api)
    listed = lines(user_api.get("/v1/replicas/user.alice/f", params={"site": "DESY"}))
    assert [(r["rse"], r["cached"]) for r in listed] == [("DESY-CACHE", True), ("CERN-DISK", False)]
    [plan] = lines(user_api.get("/v1/downloads/user.alice/f", params={"site": "DESY"}))
    assert [s["rse"] for s in plan["sources"]] == ["DESY-CACHE", "CERN-DISK"]
    assert plan["sources"][0]["pfn"].startswith("http://cache.test:8100/user/alice/")
    [plain] = lines(user_api.get("/v1/downloads/user.alice/f"))
    assert [s["rse"] for s in plain["sources"]] == ["CERN-DISK"]
