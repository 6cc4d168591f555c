"""RFC 8628 device login: authorization, polling errors, approval by API or web form, and the tokens issued."""

from datetime import timedelta

import jwt
import pytest
from sqlalchemy import update

from lake.core.clock import utcnow
from lake.db import schema_auth as ta
from lake.testing.accounts import USER, USER_PASSWORD

DEVICE = "/v1/oauth/device_authorization"
TOKEN = "/v1/oauth/token"
GRANT = "urn:ietf:params:oauth:grant-type:device_code"
STORAGE = "https://storage.example.org"


def _start(api, **form):
    r = api.post(DEVICE, data=form)
    assert r.status_code == 200, r.text
    return r.json()


def _poll(api, code, **extra):
    return api.post(TOKEN, data={"grant_type": GRANT, "device_code": code["device_code"], **extra})


def _set(services, code, **values):
    with services.db.transaction() as conn:
        conn.execute(update(ta.device_codes).where(ta.device_codes.c.user_code == code["user_code"]).values(**values))


def test_device_authorization_returns_codes_and_verification_uris(api):
    code = _start(api)
    assert code["device_code"].startswith("ldc_") and len(code["device_code"]) > 40
    assert len(code["user_code"]) == 9 and code["user_code"][4] == "-"
    assert set(code["user_code"].replace("-", "")) <= set("BCDFGHJKLMNPQRSTVWXZ")
    assert code["verification_uri"] == "http://lake.test/v1/oauth/device"
    assert code["verification_uri_complete"] == f"http://lake.test/v1/oauth/device?user_code={code['user_code']}"
    assert code["expires_in"] == 600 and code["interval"] == 5


def test_pending_code_then_approval_gives_access_and_refresh_tokens(api, user_api):
    code = _start(api, scope="lake.api offline_access storage.read:/data")
    r = _poll(api, code)
    assert r.status_code == 400 and r.json()["error"] == "authorization_pending"
    assert user_api.post("/v1/oauth/device/approve", json={"user_code": code["user_code"]}).status_code == 204
    r = _poll(api, code)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["scope"] == "lake.api storage.read:/data" and body["refresh_token"].startswith("lrt_")
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["sub"] == USER and claims["aud"] == "http://lake.test"
    who = api.get("/v1/auth/whoami", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert who.json()["name"] == USER
    renewed = api.post(TOKEN, data={"grant_type": "refresh_token", "refresh_token": body["refresh_token"]})
    assert renewed.status_code == 200 and renewed.json()["scope"] == "lake.api storage.read:/data"


def test_polling_faster_than_the_interval_does_slow_down_and_the_slower_interval_is_kept(api, services):
    code = _start(api)
    assert _poll(api, code).json()["error"] == "authorization_pending"
    r = _poll(api, code)
    assert r.status_code == 400 and r.json()["error"] == "slow_down"
    assert "10 seconds" in r.json()["error_description"]
    _set(services, code, last_polled_at=utcnow() - timedelta(seconds=8))
    assert _poll(api, code).json()["error"] == "slow_down"
    _set(services, code, last_polled_at=utcnow() - timedelta(seconds=16))
    assert _poll(api, code).json()["error"] == "authorization_pending"


def test_denied_code_does_access_denied(api, user_api):
    code = _start(api)
    assert user_api.post("/v1/oauth/device/deny", json={"user_code": code["user_code"]}).status_code == 204
    assert _poll(api, code).json()["error"] == "access_denied"
    assert user_api.post("/v1/oauth/device/approve", json={"user_code": code["user_code"]}).status_code == 404


def test_expired_code_does_expired_token_and_cannot_be_approved(api, user_api, services):
    code = _start(api)
    _set(services, code, expires_at=utcnow() - timedelta(seconds=1))
    assert _poll(api, code).json()["error"] == "expired_token"
    assert user_api.post("/v1/oauth/device/approve", json={"user_code": code["user_code"]}).status_code == 404


def test_code_is_usable_once(api, user_api):
    code = _start(api)
    user_api.post("/v1/oauth/device/approve", json={"user_code": code["user_code"]})
    assert _poll(api, code).status_code == 200
    r = _poll(api, code)
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"


def test_unknown_device_code_is_invalid_grant(api):
    r = api.post(TOKEN, data={"grant_type": GRANT, "device_code": "ldc_nope"})
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"


def test_code_started_by_a_client_is_redeemed_only_by_that_client(api, root_api, user_api):
    body = {"account": USER, "scopes": ["lake.api"], "audiences": ["http://lake.test"]}
    registered = root_api.post("/v1/oauth/clients", json=body).json()
    auth = (registered["client_id"], registered["client_secret"])
    code = _start(api, client_id=auth[0], client_secret=auth[1])
    user_api.post("/v1/oauth/device/approve", json={"user_code": code["user_code"]})
    assert _poll(api, code).json()["error"] == "invalid_grant"
    assert api.post(TOKEN, data={"grant_type": GRANT, "device_code": code["device_code"]}, auth=auth).status_code == 200
    public = _start(api)
    assert api.post(TOKEN, data={"grant_type": GRANT, "device_code": public["device_code"]}, auth=auth).json() == {
        "error": "invalid_grant",
        "error_description": "device code was issued to another client",
    }


@pytest.mark.parametrize("typed", [str.lower, lambda c: c.replace("-", ""), lambda c: c.replace("-", " ").lower()])
def test_user_code_is_accepted_in_any_case_with_or_without_separator(api, user_api, typed):
    code = _start(api)
    r = user_api.post("/v1/oauth/device/approve", json={"user_code": typed(code["user_code"])})
    assert r.status_code == 204
    assert _poll(api, code).status_code == 200


@pytest.mark.parametrize("bad", ["BCDF-GHJ", "BCDF-GHJA", "ABCD-EFGH", "BCDF-GHJK-L", ""])
def test_malformed_user_code_is_invalid_input(user_api, bad):
    r = user_api.post("/v1/oauth/device/approve", json={"user_code": bad})
    assert r.status_code == 400 and r.json()["code"] == "InvalidInput"


def test_approval_needs_a_token(api):
    code = _start(api)
    assert api.post("/v1/oauth/device/approve", json={"user_code": code["user_code"]}).status_code == 401


def test_scopes_beyond_the_approvers_policy_are_refused_and_the_code_stays_pending(api, user_api, root_api):
    code = _start(api, scope="storage.modify:/data", audience=STORAGE)
    r = user_api.post("/v1/oauth/device/approve", json={"user_code": code["user_code"]})
    assert r.status_code == 403 and "storage.modify:/data" in r.json()["message"]
    assert _poll(api, code).json()["error"] == "authorization_pending"
    assert root_api.post("/v1/oauth/device/approve", json={"user_code": code["user_code"]}).status_code == 204


@pytest.mark.parametrize("scope", ["compute.create", "storage.read", "storage.read:/a/../b"])
def test_malformed_scopes_are_refused_at_authorization(api, scope):
    r = api.post(DEVICE, data={"scope": scope})
    assert r.status_code == 400 and r.json()["error"] == "invalid_scope"


def test_web_page_shows_a_password_form_that_cannot_be_framed(api):
    r = api.get("/v1/oauth/device", params={"user_code": '<b>"x'})
    assert r.status_code == 200 and 'type="password"' in r.text
    assert "&lt;b&gt;&quot;x" in r.text and "<b>" not in r.text
    assert r.headers["x-frame-options"] == "DENY" and "frame-ancestors 'none'" in r.headers["content-security-policy"]


def test_web_login_with_password_approves_the_code(api):
    code = _start(api)
    form = {"user_code": code["user_code"].lower(), "username": USER, "password": USER_PASSWORD}
    r = api.post("/v1/oauth/device", data=form)
    assert r.status_code == 200 and f"logged in as {USER}" in r.text
    assert _poll(api, code).status_code == 200


def test_web_login_with_wrong_password_keeps_the_code_pending(api):
    code = _start(api)
    form = {"user_code": code["user_code"], "username": USER, "password": "wrong"}
    r = api.post("/v1/oauth/device", data=form)
    assert r.status_code == 401 and "wrong username or password" in r.text
    assert _poll(api, code).json()["error"] == "authorization_pending"


def test_web_deny_does_access_denied(api):
    code = _start(api)
    form = {"user_code": code["user_code"], "username": USER, "password": USER_PASSWORD, "decision": "deny"}
    assert api.post("/v1/oauth/device", data=form).status_code == 200
    assert _poll(api, code).json()["error"] == "access_denied"


def test_discovery_advertises_the_device_endpoint_and_grant(api):
    doc = api.get("/.well-known/openid-configuration").json()
    assert doc["device_authorization_endpoint"] == "http://lake.test/v1/oauth/device_authorization"
    assert GRANT in doc["grant_types_supported"]
