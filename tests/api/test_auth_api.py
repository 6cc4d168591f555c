"""Login, tokens, accounts and the route policy."""

from lake.api.app import create_app
from lake.api.deps import current_caller, public
from lake.api.rucio.auth import rucio_caller
from lake.testing.accounts import ROOT_PASSWORD
from lake.testing.routes import api_routes, dependency_calls


def test_login_with_password_returns_a_bearer_token(api):
    r = api.post("/v1/auth/token", json={"username": "root", "password": ROOT_PASSWORD})
    assert r.status_code == 200
    body = r.json()
    assert body["account"] == "root" and body["token_type"] == "bearer" and body["access_token"].count(".") == 2


def test_wrong_password_is_rejected_with_a_stable_code(api):
    r = api.post("/v1/auth/token", json={"username": "root", "password": "nope"})
    assert r.status_code == 401
    assert r.json()["code"] == "Unauthenticated"


def test_request_without_token_is_unauthenticated(api):
    r = api.get("/v1/auth/whoami")
    assert r.status_code == 401
    assert r.json()["code"] == "Unauthenticated"


def test_garbage_token_is_rejected(api):
    r = api.get("/v1/auth/whoami", headers={"Authorization": "Bearer not.a.jwt"})
    assert r.status_code == 401
    assert r.json()["code"] == "InvalidToken"


def test_whoami_names_the_account_and_admin_flag(root_api, user_api):
    assert root_api.get("/v1/auth/whoami").json()["admin"] is True
    me = user_api.get("/v1/auth/whoami").json()
    assert me["name"] == "alice" and me["admin"] is False


def test_only_admins_add_accounts(root_api, user_api):
    body = {"name": "bob", "password": "bob-password-1"}
    assert user_api.post("/v1/accounts", json=body).json()["code"] == "PermissionDenied"
    assert root_api.post("/v1/accounts", json=body).status_code == 201
    assert root_api.post("/v1/accounts", json=body).json()["code"] == "AlreadyExists"
    r = root_api.post("/v1/auth/token", json={"username": "bob", "password": "bob-password-1"})
    assert r.json()["account"] == "bob"


def test_bad_account_name_is_invalid_input(root_api):
    r = root_api.post("/v1/accounts", json={"name": "Bad Name!"})
    assert r.status_code == 400 and r.json()["code"] == "InvalidName"


def test_malformed_body_is_a_clear_invalid_input(root_api):
    r = root_api.post("/v1/accounts", json={"nam": "x"})
    assert r.status_code == 400
    assert r.json()["code"] == "InvalidInput" and "name" in r.json()["message"]


def test_accounts_list_streams_ndjson(root_api):
    r = root_api.get("/v1/accounts")
    assert r.headers["content-type"].startswith("application/x-ndjson")
    names = [line for line in r.text.splitlines() if line]
    assert len(names) == 2


def test_jwks_and_discovery_are_public(api):
    config = api.get("/.well-known/openid-configuration").json()
    assert config["jwks_uri"].endswith("/.well-known/jwks.json")
    keys = api.get("/.well-known/jwks.json").json()["keys"]
    assert keys and all("kid" in key and key["use"] == "sig" for key in keys)


def test_every_route_has_a_policy_or_is_explicitly_public(services):
    app = create_app(services)
    routes = list(api_routes(app.router.routes))
    assert len(routes) > 30
    for route in routes:
        calls = set(dependency_calls(route.dependant))
        assert calls & {current_caller, rucio_caller, public}, f"{route.path} has no policy"


def test_a_database_failure_is_a_retryable_temporary_failure_and_changes_nothing(root_api, services, monkeypatch):
    """A deadlock or lost connection (OperationalError) rolls back and answers 503 TemporaryFailure."""
    from sqlalchemy.exc import OperationalError

    from lake.logic.catalog import rses

    def broken(*_args, **_kwargs):
        raise OperationalError("INSERT ...", {}, Exception("deadlock detected"))

    monkeypatch.setattr(rses, "add_protocol", broken)
    root_api.post("/v1/rses", json={"name": "SITE-X"})
    r = root_api.post("/v1/rses/SITE-X/protocols", json={"scheme": "http", "hostname": "h", "port": 1})
    assert r.status_code == 503
    assert r.json()["code"] == "TemporaryFailure" and r.json()["retryable"] is True
