"""The client against the API app in-process (Starlette TestClient): catalog, RSE and error round trips."""

from __future__ import annotations

import pytest

from lake.client import LakeClient
from lake.core.errors import DuplicateDID, InvalidFilter, PermissionDenied, Unauthenticated
from lake.core.models import DIDIn, DIDRef, DIDType, FileIn, ProtocolIn, RegisterFilesIn, RSEIn, RSEUpdate
from lake.core.settings import ClientSettings
from lake.testing.accounts import ROOT_PASSWORD, USER, USER_PASSWORD


@pytest.fixture
def lake(api, tmp_path):
    """A logged-in client factory over the in-process app."""

    def make(username: str, password: str) -> LakeClient:
        client = LakeClient(ClientSettings(url="http://testserver", token_file=tmp_path / username), http=api)
        client.login(username, password)
        return client

    return make


def test_anonymous_calls_are_unauthenticated(api, tmp_path):
    client = LakeClient(ClientSettings(url="http://testserver", token_file=tmp_path / "none"), http=api)
    assert "version" in client.ping()
    with pytest.raises(Unauthenticated):
        client.whoami()


def test_catalog_round_trip(lake):
    root, alice = lake("root", ROOT_PASSWORD), lake(USER, USER_PASSWORD)
    assert alice.whoami().name == USER
    assert root.whoami().admin
    root.add_scope("proj", USER)
    with pytest.raises(PermissionDenied):
        alice.add_scope("user.mallory")
    assert {"proj", "user.alice"} <= {s.name for s in alice.list_scopes(account=USER)}
    root.add_rse(RSEIn(name="SITE-A", attributes={"tier": 1}))
    root.set_rse_attribute("SITE-A", "country", "CH")
    root.add_protocol("SITE-A", ProtocolIn(scheme="http", hostname="site-a.test", port=8000))
    assert root.update_rse("SITE-A", RSEUpdate(availability_write=False)).availability_write is False
    assert [r.name for r in alice.list_rses("tier=1")] == ["SITE-A"]

    alice.add_did(DIDIn(scope="user.alice", name="ds", type=DIDType.DATASET, meta={"run": 5}))
    with pytest.raises(DuplicateDID):
        alice.add_did(DIDIn(scope="user.alice", name="ds", type=DIDType.DATASET))
    files = [FileIn(scope="user.alice", name=f"f/{i}", bytes=i, adler32="00000001") for i in range(3)]
    registered = root.register_files(
        RegisterFilesIn(rse="SITE-A", files=files, dataset=DIDRef(scope="user.alice", name="ds"))
    )
    assert registered.attached == 3
    assert [d.name for d in alice.list_content("user.alice", "ds")] == ["f/0", "f/1", "f/2"]
    assert alice.get_did("user.alice", "f/1").bytes == 1
    assert [d.name for d in alice.list_parents("user.alice", "f/1")] == ["ds"]
    assert [d.name for d in alice.search_dids("user.alice", "run>=5", type="dataset")] == ["ds"]
    with pytest.raises(InvalidFilter):
        list(alice.search_dids("user.alice", "run>>5"))
    assert alice.set_meta("user.alice", "ds", {"kind": "raw"}) == {"run": 5, "kind": "raw"}
    assert alice.detach("user.alice", "ds", [DIDRef(scope="user.alice", name="f/2")]) == 1
    assert alice.close_did("user.alice", "ds").is_open is False
    replicas = list(alice.list_replicas("user.alice", "ds"))
    assert {(r.rse, r.pfn.startswith("http://site-a.test:8000/")) for r in replicas} == {("SITE-A", True)}
