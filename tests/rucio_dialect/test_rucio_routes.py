"""The Rucio dialect in-process: conventions, errors, route policy (real Lake tokens, Starlette TestClient)."""

from __future__ import annotations

import re

import orjson
import pytest
from fastapi.testclient import TestClient

from lake.api.app import create_app
from lake.api.deps import public
from lake.api.rucio.app import create_rucio_app
from lake.api.rucio.auth import rucio_caller
from lake.testing.accounts import USER, USER_PASSWORD
from lake.testing.clients import rucio_login
from lake.testing.factories import add_rses
from lake.testing.factories import rucio_file as _file
from lake.testing.routes import api_routes, dependency_calls

RFC1123_UTC = re.compile(r"^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} UTC$")


def test_every_rucio_route_needs_the_token_except_ping_auth_and_traces(services):
    routes = list(api_routes(create_rucio_app(services).router.routes))
    assert len(routes) > 35
    for route in routes:
        calls = set(dependency_calls(route.dependant))
        if route.path == "/ping" or route.path.startswith("/auth/") or route.path == "/traces":
            assert public in calls and rucio_caller not in calls, route.path
        else:
            assert rucio_caller in calls, f"{route.path} has no token check"


@pytest.fixture
def rucio(services):
    """The native app (with /rucio mounted), logged in as alice through the dialect, with two RSEs."""
    with services.db.transaction() as conn:
        add_rses(conn, {"SITE-A": {"tier": 1}, "SITE-B": {"tier": 1}}, port=9001, hostname="se.test")
    with TestClient(create_app(services), raise_server_exceptions=False, base_url="http://lake.test/rucio") as client:
        yield rucio_login(client, USER, USER_PASSWORD, prefix="")


def test_userpass_login_returns_token_headers_and_validate_reads_them(rucio):
    r = rucio.get("/auth/userpass", headers={"X-Rucio-Username": USER, "X-Rucio-Password": USER_PASSWORD})
    assert RFC1123_UTC.match(r.headers["X-Rucio-Auth-Token-Expires"])
    assert r.headers["X-Rucio-Auth-Account"] == "alice"
    info = rucio.get("/auth/validate").text
    assert "'account': 'alice'" in info and "storage.create:/user/alice" in info


def test_bad_credentials_missing_and_bad_tokens_are_rucio_errors(rucio):
    r = rucio.get("/auth/userpass", headers={"X-Rucio-Username": USER, "X-Rucio-Password": "wrong"})
    assert r.status_code == 401 and r.json()["ExceptionClass"] == "CannotAuthenticate"
    assert r.headers["ExceptionClass"] == "CannotAuthenticate"
    assert rucio.get("/scopes/", headers={"X-Rucio-Auth-Token": ""}).status_code == 400
    r = rucio.get("/scopes/", headers={"X-Rucio-Auth-Token": "not-a-token"})
    assert r.status_code == 401 and r.headers["content-type"] == "application/octet-stream"


def test_whoami_redirects_to_the_account_and_ping_is_public(rucio):
    r = rucio.get("/accounts/whoami", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "alice"
    assert rucio.get("/accounts/whoami").json()["account"] == "alice"
    assert rucio.get("/ping", headers={"X-Rucio-Auth-Token": ""}).json()["version"] >= "40"


def test_lake_bearer_jwt_is_accepted_as_rucio_token(services, rucio):
    token = services.issuer.api_token("alice")
    r = rucio.get("/accounts/whoami", headers={"X-Rucio-Auth-Token": token}, follow_redirects=False)
    assert r.headers["location"] == "alice"


def test_rse_list_with_and_without_slash_streams_names_for_an_expression(rucio):
    for path in ("/rses/?expression=tier=1", "/rses?expression=tier=1"):
        r = rucio.get(path)
        assert r.headers["content-type"] == "application/x-json-stream"
        assert [orjson.loads(line) for line in r.text.splitlines()] == [{"rse": "SITE-A"}, {"rse": "SITE-B"}]
    r = rucio.get("/rses/?expression=bad&&&")
    assert r.status_code == 400 and r.json()["ExceptionClass"] == "InvalidRSEExpression"


def test_rse_info_has_protocols_in_rucio_shape_without_priority_zero(rucio):
    info = rucio.get("/rses/SITE-A").json()
    protocol = info["protocols"][0]
    assert protocol["impl"] == "rucio.rse.protocols.webdav.NoRename"
    assert set(protocol["domains"]) == {"lan", "wan"} and info["domain"] == ["lan", "wan"]
    assert all(v != 0 for d in protocol["domains"].values() for v in d.values())
    assert rucio.get("/rses/NOPE").json()["ExceptionClass"] == "RSENotFound"
    pfns = rucio.get("/rses/SITE-A/lfns2pfns?lfn=user.alice:f.root").json()
    assert re.fullmatch(r"http://se\.test:9001/user/alice/[0-9a-f]{2}/[0-9a-f]{2}/f\.root", pfns["user.alice:f.root"])


def test_add_did_without_content_type_then_duplicate_is_409(rucio):
    body = orjson.dumps({"type": "DATASET", "meta": {"run": 12}})
    r = rucio.post("/dids/user.alice/ds1", content=body)
    assert r.status_code == 201 and r.text == "Created"
    r = rucio.post("/dids/user.alice/ds1", content=body)
    assert r.status_code == 409 and r.json()["ExceptionClass"] == "DataIdentifierAlreadyExists"
    did = rucio.get("/dids/user.alice/ds1").json()
    assert did["type"] == "DATASET" and did["open"] is True
    assert rucio.get("/dids/user.alice/nope").json()["ExceptionClass"] == "DataIdentifierNotFound"


def test_names_with_slashes_work_encoded_and_decoded(rucio):
    assert rucio.post("/dids/user.alice/dir%2Fds", content=b'{"type": "DATASET"}').status_code == 201
    assert rucio.get("/dids/user.alice/dir/ds").json()["name"] == "dir/ds"
    assert rucio.get("/dids/user.alice/dir%2Fds/meta").json()["did_type"] == "DATASET"


def test_replicas_attach_content_and_search_with_python_repr_filters(rucio):
    rucio.post("/dids/user.alice/ds1", content=b'{"type": "DATASET", "meta": {"run": 12}}')
    rucio.post("/dids/user.alice/ds2", content=b'{"type": "DATASET", "meta": {"run": 3}}')
    r = rucio.post("/replicas", content=orjson.dumps({"rse": "SITE-A", "files": [_file("a"), _file("b")]}))
    assert r.status_code == 201
    dids = [{"scope": "user.alice", "name": n} for n in ("a", "b")]
    assert rucio.post("/dids/user.alice/ds1/dids", content=orjson.dumps({"dids": dids})).status_code == 201
    content = [orjson.loads(x)["name"] for x in rucio.get("/dids/user.alice/ds1/dids").text.splitlines()]
    assert sorted(content) == ["a", "b"]
    r = rucio.get("/dids/user.alice/dids/search", params={"type": "dataset", "filters": "[{'run.gte': 10}]"})
    assert [orjson.loads(x) for x in r.text.splitlines()] == ["ds1"]
    r = rucio.get("/dids/user.alice/dids/search", params={"filters": "[{'run': __import__('os')}]"})
    assert r.status_code == 400 and r.json()["ExceptionClass"] == "DIDFilterSyntaxError"
    listed = [
        orjson.loads(x)
        for x in rucio.post("/replicas/list", content=orjson.dumps({"dids": dids[:1]})).text.splitlines()
    ]
    assert listed[0]["states"] == {"SITE-A": "AVAILABLE"} and listed[0]["rses"]["SITE-A"][0].startswith(
        "http://se.test:9001/"
    )


def test_rules_are_created_with_201_and_a_list_of_ids_and_errors_are_409(rucio):
    rucio.post("/replicas", content=orjson.dumps({"rse": "SITE-A", "files": [_file("a")]}))
    body = {"dids": [{"scope": "user.alice", "name": "a"}], "copies": 1, "rse_expression": "SITE-B", "account": None}
    r = rucio.post("/rules/", content=orjson.dumps(body))
    assert r.status_code == 201
    (rule_id,) = r.json()
    rule = rucio.get(f"/rules/{rule_id}").json()
    assert rule["rse_expression"] == "SITE-B" and RFC1123_UTC.match(rule["created_at"])
    assert rucio.post("/rules/", content=orjson.dumps(body)).json()["ExceptionClass"] == "DuplicateRule"
    r = rucio.post("/rules/", content=orjson.dumps(body | {"rse_expression": "&&"}))
    assert r.status_code == 409 and r.json()["ExceptionClass"] == "InvalidRSEExpression"
    assert len(rucio.get(f"/rules/{rule_id}/locks").text.splitlines()) == 1
    assert rucio.delete(f"/rules/{rule_id}").status_code == 200
    assert rucio.get(f"/rules/{rule_id}").json()["ExceptionClass"] == "RuleNotFound"


def test_permission_denied_is_access_denied_with_401(rucio):
    r = rucio.post("/dids/root.scope/ds", content=b'{"type": "DATASET"}')
    assert r.json()["ExceptionClass"] in ("ScopeNotFound", "AccessDenied")
    r = rucio.put("/dids/user.alice/x/status", content=b'{"open": false}')
    assert r.json()["ExceptionClass"] == "DataIdentifierNotFound"
    rucio.post("/dids/user.alice/ds1", content=b'{"type": "DATASET"}')
    assert rucio.put("/dids/user.alice/ds1/status", content=b'{"open": false}').status_code == 200
    r = rucio.put("/dids/user.alice/ds1/status", content=b'{"open": true}')
    assert r.status_code == 401 and r.json()["ExceptionClass"] == "AccessDenied"


def test_traces_are_accepted_without_token(rucio):
    assert rucio.post("/traces/", content=b"{}", headers={"X-Rucio-Auth-Token": ""}).status_code == 201
