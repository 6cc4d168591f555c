"""The Rucio dialect's admin calls in-process: accounts, identities, scopes, RSEs, limits, usage, rule moves."""

from __future__ import annotations

import json

import orjson
import pytest
from fastapi.testclient import TestClient

from lake.api.app import create_app
from lake.testing.accounts import ROOT_PASSWORD, USER, USER_PASSWORD
from lake.testing.clients import rucio_login
from lake.testing.factories import rucio_file as _file


def _login(app: object, username: str, password: str) -> TestClient:
    client = TestClient(app, raise_server_exceptions=False, base_url="http://lake.test/rucio")  # type: ignore[arg-type]
    return rucio_login(client, username, password, prefix="")


@pytest.fixture
def clients(services):
    """(root, alice) clients of one app, both logged in through the dialect."""
    app = create_app(services)
    with _login(app, "root", ROOT_PASSWORD) as root, _login(app, USER, USER_PASSWORD) as alice:
        yield root, alice


def _post(client: TestClient, path: str, body: object = None) -> object:
    return client.post(path, content=orjson.dumps(body) if body is not None else b"")


def _lines(text: str) -> list:
    return [json.loads(line) for line in text.splitlines()]


def _rse(root: TestClient, name: str, port: int) -> None:
    assert _post(root, f"/rses/{name}", {"deterministic": True, "city": "Geneva"}).status_code == 201
    wan = {"read": 1, "write": 1, "delete": 1, "third_party_copy": 1}  # upstream's legacy key for both TPC directions
    protocol = {"hostname": "se.test", "port": port, "prefix": "/data", "impl": "rucio.rse.protocols.webdav.Default",
                "domains": {"lan": {"read": 1}, "wan": wan}}  # fmt: skip
    assert _post(root, f"/rses/{name}/protocols/https", protocol).status_code == 201


def test_admin_creates_an_account_with_identity_and_scope_and_the_account_logs_in(services, clients):
    root, alice = clients
    assert _post(root, "/accounts/bob", {"type": "USER", "email": "bob@example.org"}).status_code == 201
    assert _post(root, "/accounts/bob", {"type": "USER"}).json()["ExceptionClass"] == "Duplicate"
    identity = {"identity": "bobby", "authtype": "USERPASS", "email": "b@x", "default": True, "password": "pw-1"}
    assert _post(root, "/accounts/bob/identities", identity).status_code == 201
    assert _post(root, "/accounts/bob/identities", identity).json()["ExceptionClass"] == "Duplicate"
    r = _post(root, "/accounts/bob/identities", identity | {"authtype": "X509", "identity": "CN=bob"})
    assert r.status_code == 409 and r.json()["ExceptionClass"] == "UnsupportedOperation"
    assert _post(root, "/accounts/bob/scopes/user.bob").status_code == 201
    assert _post(root, "/accounts/bob/attr/country", {"key": "country", "value": "CH"}).status_code == 201
    assert {"account": "bob", "type": "USER", "email": "bob@example.org"} in _lines(root.get("/accounts/").text)
    assert [a["account"] for a in _lines(root.get("/accounts?country=ch").text)] == ["bob"]
    assert _lines(root.get("/accounts/bob/identities").text)[0]["identity"] == "bobby"
    assert root.get("/accounts/bob/attr/").json() == [{"key": "country", "value": "CH"}]
    assert root.get("/accounts/root/attr/").json() == [{"key": "admin", "value": True}]
    assert root.delete("/accounts/bob/attr/country").status_code == 200
    with _login(create_app(services), "bobby", "pw-1") as bob:
        assert bob.get("/accounts/whoami").json()["account"] == "bob"
        assert bob.get("/accounts/bob/scopes/").json() == ["user.bob"]
    r = _post(alice, "/accounts/eve", {"type": "USER"})
    assert r.status_code == 401 and r.json()["ExceptionClass"] == "AccessDenied"


def test_admin_sets_up_rses_with_attributes_protocols_and_distances(clients):
    root, alice = clients
    _rse(root, "SITE-A", 9001)
    _rse(root, "SITE-B", 9002)
    assert _post(root, "/rses/SITE-A", {}).json()["ExceptionClass"] == "Duplicate"
    assert _post(root, "/rses/SITE-A/attr/tier", {"value": 1}).status_code == 201
    assert root.get("/rses/SITE-A/attr/").json() == {"SITE-A": True, "city": "Geneva", "tier": 1}
    assert [r["rse"] for r in _lines(root.get("/rses/?expression=tier=1").text)] == ["SITE-A"]
    assert root.delete("/rses/SITE-A/attr/tier").status_code == 200
    protocol = root.get("/rses/SITE-A").json()["protocols"][0]
    assert protocol["domains"]["wan"]["third_party_copy_write"] == 1 and protocol["domains"]["lan"]["write"] is None
    zero = {"hostname": "h", "port": 1, "domains": {"wan": {"read": 0}}}
    assert _post(root, "/rses/SITE-A/protocols/root", zero).json()["ExceptionClass"] == "InvalidObject"
    assert root.put("/rses/SITE-B", content=b'{"availability_write": false}').status_code == 201
    assert root.get("/rses/SITE-B").json()["availability_write"] is False
    assert root.get("/rses/SITE-A/distances/SITE-B").json() == []
    assert _post(root, "/rses/SITE-A/distances/SITE-B", {"distance": 3, "bidirectional": True}).status_code == 201
    assert _post(root, "/rses/SITE-A/distances/SITE-B", {"distance": 3}).json()["ExceptionClass"] == "Duplicate"
    assert root.put("/rses/SITE-B/distances/SITE-A", content=b'{"distance": 5}').status_code == 200
    assert root.get("/rses/SITE-A/distances/SITE-B").json()[0]["distance"] == 3
    assert root.get("/rses/SITE-B/distances/SITE-A").json()[0]["ranking"] == 5
    assert root.delete("/rses/SITE-A/protocols/https").status_code == 200
    assert root.delete("/rses/SITE-A/protocols/https").json()["ExceptionClass"] == "RSEProtocolNotSupported"
    assert _post(alice, "/rses/SITE-C", {}).json()["ExceptionClass"] == "AccessDenied"


def test_limits_and_usage_local_and_global(clients):
    root, _ = clients
    _rse(root, "SITE-A", 9001)
    assert _post(root, "/accounts/alice/limits/local/SITE-A", {"bytes": 1000}).status_code == 201
    assert _post(root, "/accounts/alice/limits/global/city%3DGeneva", {"bytes": 5000}).status_code == 201
    assert _post(root, "/accounts/alice/limits/local/NOPE", {"bytes": 1}).json()["ExceptionClass"] == "RSENotFound"
    assert root.get("/accounts/alice/limits/local/SITE-A").json() == {"SITE-A": 1000}
    assert root.get("/accounts/alice/limits/global").json()["city=Geneva"]["resolved_rses"] == ["SITE-A"]
    (usage,) = _lines(root.get("/accounts/alice/usage/local/SITE-A").text)
    assert usage["bytes_limit"] == 1000 and usage["bytes_remaining"] == 1000 and usage["files"] == 0
    (usage,) = _lines(root.get("/accounts/alice/usage/global").text)
    assert usage["rse_expression"] == "city=Geneva" and usage["bytes_remaining"] == 5000
    assert root.delete("/accounts/alice/limits/local/SITE-A").status_code == 200
    (usage,) = _lines(root.get("/accounts/alice/usage/local/SITE-A").text)
    assert usage["bytes_limit"] == float("inf")  # no limit is unlimited in Lake, sent as `Infinity`


def test_dataset_replicas_associated_rules_move_and_reduce(clients):
    root, alice = clients
    _rse(root, "SITE-A", 9001)
    _rse(root, "SITE-B", 9002)
    assert _post(alice, "/dids/user.alice/ds", {"type": "DATASET"}).status_code == 201
    assert _post(alice, "/dids/user.alice/ds/dids", {"dids": [_file("a"), _file("bb")], "rse": "SITE-A"}).status_code
    (replica,) = _lines(alice.get("/replicas/user.alice/ds/datasets").text)
    assert replica["rse"] == "SITE-A" and replica["length"] == 2 and replica["available_bytes"] == 3
    assert replica["state"] == "AVAILABLE"
    body = {"dids": [{"scope": "user.alice", "name": "ds"}], "copies": 2, "rse_expression": "SITE-A|SITE-B"}
    (rule_id,) = _post(alice, "/rules/", body).json()
    associated = _lines(alice.get("/dids/user.alice/a/associated_rules").text)
    assert [r["id"] for r in associated] == [rule_id]
    r = _post(alice, f"/rules/{rule_id}/reduce", {"copies": 1, "exclude_expression": None})
    assert r.status_code == 200 and r.json() == [rule_id]
    assert alice.get(f"/rules/{rule_id}").json()["copies"] == 1
    r = _post(alice, f"/rules/{rule_id}/move", {"rse_expression": "SITE-B", "override": {"activity": None}})
    assert r.status_code == 201
    (child,) = r.json()
    assert alice.get(f"/rules/{rule_id}").json()["child_rule_id"] == child
    r = _post(alice, f"/rules/{child}/move", {"rse_expression": "SITE-A", "override": {"activity": "x"}})
    assert r.json()["ExceptionClass"] == "UnsupportedOperation"


def test_leading_double_slash_is_served_like_a_single_one(clients):
    """The JupyterLab extension posts rules to `{rucio_base_url}/rules/`, with a base URL ending in `/`."""
    _, alice = clients
    assert alice.get("http://lake.test/rucio//scopes/").status_code == 200
    rule = {"dids": [{"scope": "user.alice", "name": "nope"}], "copies": 1, "rse_expression": "X"}
    r = _post(alice, "http://lake.test/rucio//rules/", rule)
    assert r.json()["ExceptionClass"] == "DataIdentifierNotFound"
