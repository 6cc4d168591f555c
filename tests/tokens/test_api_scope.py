"""The API acts only for tokens that carry `lake.api`: every other kind of Lake token is refused in both dialects
with 403 InsufficientScope (Rucio: AccessDenied), and nothing is written.

Kinds covered: a storage-only token for the API's audience, an API token narrowed by exchange, a refreshed token
whose grant had no API scope and a device-flow token without it (tokens for a storage audience, such as a
download plan's, are already refused by audience: tests/tokens/test_hostile_tokens.py). External
tokens are covered in tests/tokens/external/test_external_api_scope.py.
"""

import pytest
from sqlalchemy import func, select

from lake.db import schema as t
from lake.testing.accounts import USER, USER_PASSWORD

TOKEN = "/v1/oauth/token"
EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TYPE = "urn:ietf:params:oauth:token-type:access_token"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
API = "http://lake.test"  # the API audience of the plugin's settings


def _grant(api, **form):
    r = api.post(TOKEN, data={"grant_type": "password", "username": USER, "password": USER_PASSWORD, **form})
    assert r.status_code == 200, r.text
    return r.json()


def _dids(services):
    with services.db.transaction() as conn:
        return conn.execute(select(func.count()).select_from(t.dids)).scalar()


def assert_refused_on_the_api(api, services, token):
    """403 InsufficientScope natively, 403 AccessDenied in the Rucio dialect; reads and writes alike."""
    before = _dids(services)
    bearer = {"Authorization": f"Bearer {token}"}
    for method, path, body in (
        ("GET", "/v1/auth/whoami", None),
        ("POST", "/v1/dids", {"scope": "user.alice", "name": "sneaky", "type": "DATASET"}),
    ):
        r = api.request(method, path, json=body, headers=bearer)
        assert r.status_code == 403, (path, r.text)
        assert r.json()["code"] == "InsufficientScope" and "lake.api" in r.json()["message"]
        assert "insufficient_scope" in r.headers["www-authenticate"]
    rucio = {"X-Rucio-Auth-Token": token}
    for method, path, body in (
        ("GET", "/rucio/accounts/whoami", None),
        ("POST", "/rucio/dids/user.alice/sneaky2", {"type": "DATASET"}),
    ):
        r = api.request(method, path, json=body, headers=rucio)
        assert r.status_code == 403, (path, r.text)
        assert r.headers["exceptionclass"] == "AccessDenied" and "lake.api" in r.json()["ExceptionMessage"]
    assert _dids(services) == before


def test_api_token_acts_on_both_dialects(api):
    token = _grant(api)["access_token"]
    assert api.get("/v1/auth/whoami", headers={"Authorization": f"Bearer {token}"}).json()["name"] == USER
    assert api.get("/rucio/accounts/whoami", headers={"X-Rucio-Auth-Token": token}).json()["account"] == USER


def test_storage_only_token_for_the_api_audience_is_refused_on_the_api(api, services):
    token = _grant(api, scope="storage.read:/data storage.create:/user.alice", audience=API)["access_token"]
    assert_refused_on_the_api(api, services, token)


def test_api_token_narrowed_by_exchange_to_storage_is_refused_on_the_api(api, services):
    subject = _grant(api, scope="lake.api storage.read:/data")["access_token"]
    form = {"grant_type": EXCHANGE, "subject_token": subject, "subject_token_type": ACCESS_TYPE}
    r = api.post(TOKEN, data=form | {"scope": "storage.read:/data/set1"})
    assert r.status_code == 200, r.text
    assert r.json()["scope"] == "storage.read:/data/set1"
    assert_refused_on_the_api(api, services, r.json()["access_token"])


def test_exchange_never_adds_the_api_scope_to_a_storage_token(api):
    subject = _grant(api, scope="storage.read:/data", audience=API)["access_token"]
    form = {"grant_type": EXCHANGE, "subject_token": subject, "subject_token_type": ACCESS_TYPE}
    r = api.post(TOKEN, data=form | {"scope": "lake.api"})
    assert r.status_code == 400 and r.json()["error"] == "invalid_scope"


def test_refreshed_token_keeps_the_grants_scopes_and_never_gains_the_api_scope(api, services):
    grant = _grant(api, scope="storage.read:/data offline_access", audience=API)
    refresh = {"grant_type": "refresh_token", "refresh_token": grant["refresh_token"]}
    r = api.post(TOKEN, data=refresh)
    assert r.status_code == 200 and r.json()["scope"] == "storage.read:/data"
    assert_refused_on_the_api(api, services, r.json()["access_token"])
    r = api.post(TOKEN, data=refresh | {"scope": "lake.api"})
    assert r.status_code == 400 and r.json()["error"] == "invalid_scope"


def test_device_flow_token_without_the_api_scope_is_refused_on_the_api(api, user_api, services):
    code = api.post("/v1/oauth/device_authorization", data={"scope": "storage.read:/data"}).json()
    assert user_api.post("/v1/oauth/device/approve", json={"user_code": code["user_code"]}).status_code == 204
    r = api.post(TOKEN, data={"grant_type": DEVICE_GRANT, "device_code": code["device_code"]})
    assert r.status_code == 200 and r.json()["scope"] == "storage.read:/data"
    assert_refused_on_the_api(api, services, r.json()["access_token"])


def test_device_approval_needs_an_api_token(api, services):
    code = api.post("/v1/oauth/device_authorization", data={"scope": "lake.api"}).json()
    storage = _grant(api, scope="storage.read:/data", audience=API)["access_token"]
    bearer = {"Authorization": f"Bearer {storage}"}
    r = api.post("/v1/oauth/device/approve", json={"user_code": code["user_code"]}, headers=bearer)
    assert r.status_code == 403 and r.json()["code"] == "InsufficientScope"
    r = api.post(TOKEN, data={"grant_type": DEVICE_GRANT, "device_code": code["device_code"]})
    assert r.json()["error"] == "authorization_pending"


@pytest.mark.parametrize("scope", ["lake.api", "storage.read:/"])
def test_introspection_reports_exactly_the_scopes_a_token_carries(api, scope):
    token = _grant(api, scope=scope, audience=API)["access_token"]
    info = api.post("/v1/oauth/introspect", data={"token": token}).json()
    assert info["active"] is True and info["scope"] == scope
