"""The OAuth2 token endpoint: grants, scope policy, refresh, exchange, revocation and introspection."""

import base64

import pytest

from lake.testing.accounts import ROOT_PASSWORD, USER, USER_PASSWORD
from lake.testing.tokens import claims as _claims

TOKEN = "/v1/oauth/token"
EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TYPE = "urn:ietf:params:oauth:token-type:access_token"
REFRESH_TYPE = "urn:ietf:params:oauth:token-type:refresh_token"
STORAGE = "https://storage.example.org"


def _password(api, scope=None, audience=None, username=USER, password=USER_PASSWORD, **extra):
    form = {"grant_type": "password", "username": username, "password": password, **extra}
    form |= {"scope": scope} if scope else {}
    form |= {"audience": audience} if audience else {}
    return api.post(TOKEN, data=form)


@pytest.fixture
def client(root_api):
    body = {"account": USER, "scopes": ["storage.read:/", "storage.create:/user.alice", "lake.api"],
            "audiences": [STORAGE, "http://lake.test"]}  # fmt: skip
    r = root_api.post("/v1/oauth/clients", json=body)
    assert r.status_code == 201, r.text
    return r.json()


def test_password_grant_gives_an_api_token_usable_on_the_api(api):
    r = _password(api)
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    body = r.json()
    assert body["token_type"] == "Bearer" and body["scope"] == "lake.api"
    who = api.get("/v1/auth/whoami", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert who.json()["name"] == USER


def test_password_grant_with_storage_scope_and_audience(api):
    r = _password(api, scope="storage.create:/user.alice/run1 storage.read:/data", audience=STORAGE)
    claims = _claims(r.json()["access_token"])
    assert claims["aud"] == STORAGE and claims["scope"] == "storage.create:/user.alice/run1 storage.read:/data"
    assert claims["wlcg.ver"] == "1.0" and claims["sub"] == USER


@pytest.mark.parametrize(
    "scope",
    ["storage.modify:/data", "storage.create:/user.alicex", "storage.read", "storage.read:/data/../etc",
     "storage.read://x", "compute.create", "storage.poll:/x"],
)  # fmt: skip
def test_scope_policy_refuses_with_invalid_scope(api, scope):
    r = _password(api, scope=scope)
    assert r.status_code == 400 and r.json()["error"] == "invalid_scope"


def test_admin_may_get_write_scopes_anywhere(api):
    r = _password(api, scope="storage.modify:/data", username="root", password=ROOT_PASSWORD)
    assert r.status_code == 200


def test_wrong_password_is_invalid_grant(api):
    r = _password(api, password="nope")
    assert r.status_code == 400 and r.json() == {
        "error": "invalid_grant",
        "error_description": "wrong username or password",
    }


def test_unknown_grant_type_and_bad_requests(api):
    assert api.post(TOKEN, data={"grant_type": "implicit"}).json()["error"] == "unsupported_grant_type"
    r = api.post(TOKEN, json={"grant_type": "password"})
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"
    r = api.post(TOKEN, content="grant_type=password&grant_type=password",
                 headers={"content-type": "application/x-www-form-urlencoded"})  # fmt: skip
    assert r.json()["error"] == "invalid_request"


def test_client_credentials_within_registration(api, client):
    form = {"grant_type": "client_credentials", "scope": "storage.create:/user.alice/x", "audience": STORAGE}
    auth = base64.b64encode(f"{client['client_id']}:{client['client_secret']}".encode()).decode()
    r = api.post(TOKEN, data=form, headers={"Authorization": f"Basic {auth}"})
    assert r.status_code == 200, r.text
    assert _claims(r.json()["access_token"])["scope"] == "storage.create:/user.alice/x"
    form |= {"client_id": client["client_id"], "client_secret": client["client_secret"]}
    assert api.post(TOKEN, data=form | {"scope": "storage.modify:/user.alice"}).json()["error"] == "invalid_scope"
    assert api.post(TOKEN, data=form | {"audience": "https://other"}).json()["error"] == "invalid_target"


def test_client_credentials_needs_a_valid_client(api, client):
    r = api.post(TOKEN, data={"grant_type": "client_credentials"})
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    r = api.post(
        TOKEN, data={"grant_type": "client_credentials", "client_id": client["client_id"], "client_secret": "x"}
    )
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"


def test_only_admins_register_clients(user_api):
    r = user_api.post("/v1/oauth/clients", json={"account": USER, "scopes": [], "audiences": [STORAGE]})
    assert r.status_code == 403


def test_refresh_grant_revocation_and_introspection(api):
    body = _password(api, scope="lake.api offline_access storage.read:/data").json()
    refresh = body["refresh_token"]
    r = api.post(TOKEN, data={"grant_type": "refresh_token", "refresh_token": refresh, "scope": "storage.read:/data/x"})
    assert r.status_code == 200 and _claims(r.json()["access_token"])["scope"] == "storage.read:/data/x"
    r = api.post(TOKEN, data={"grant_type": "refresh_token", "refresh_token": refresh, "scope": "storage.read:/"})
    assert r.json()["error"] == "invalid_scope"
    info = api.post("/v1/oauth/introspect", data={"token": refresh}).json()
    assert info["active"] is True and info["sub"] == USER and info["token_type"] == "refresh_token"
    assert api.post("/v1/oauth/revoke", data={"token": refresh}).status_code == 200
    assert api.post("/v1/oauth/introspect", data={"token": refresh}).json() == {"active": False}
    r = api.post(TOKEN, data={"grant_type": "refresh_token", "refresh_token": refresh})
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    assert api.post("/v1/oauth/revoke", data={"token": "garbage"}).status_code == 200


def test_refresh_token_bound_to_its_client(api, client):
    creds = {"client_id": client["client_id"], "client_secret": client["client_secret"]}
    body = _password(api, scope="offline_access storage.read:/data", audience=STORAGE, **creds).json()
    r = api.post(TOKEN, data={"grant_type": "refresh_token", "refresh_token": body["refresh_token"]})
    assert r.json()["error"] == "invalid_grant"
    r = api.post(TOKEN, data={"grant_type": "refresh_token", "refresh_token": body["refresh_token"], **creds})
    assert r.status_code == 200


def test_a_client_bound_refresh_token_is_revoked_only_by_its_client(api, client):
    creds = {"client_id": client["client_id"], "client_secret": client["client_secret"]}
    refresh = _password(api, scope="offline_access storage.read:/data", audience=STORAGE, **creds).json()[
        "refresh_token"
    ]
    assert api.post("/v1/oauth/revoke", data={"token": refresh}).status_code == 200
    assert api.post("/v1/oauth/introspect", data={"token": refresh}).json()["active"] is True
    wrong = api.post(
        "/v1/oauth/revoke", data={"token": refresh, "client_id": client["client_id"], "client_secret": "x"}
    )
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
    assert api.post("/v1/oauth/revoke", data={"token": refresh, **creds}).status_code == 200
    assert api.post("/v1/oauth/introspect", data={"token": refresh}).json() == {"active": False}


def test_introspection_of_access_tokens(api):
    token = _password(api).json()["access_token"]
    info = api.post("/v1/oauth/introspect", data={"token": token}).json()
    assert info["active"] is True and info["sub"] == USER and info["scope"] == "lake.api"
    assert api.post("/v1/oauth/introspect", data={"token": token[:-4] + "AAAA"}).json() == {"active": False}
    assert api.post("/v1/oauth/introspect", data={"token": ""}).json() == {"active": False}


def test_token_exchange_narrows_scopes(api, client):
    subject = _password(api, scope="storage.read:/data storage.create:/user.alice", audience=STORAGE).json()
    form = {"grant_type": EXCHANGE, "subject_token": subject["access_token"], "subject_token_type": ACCESS_TYPE}
    r = api.post(TOKEN, data=form | {"scope": "storage.read:/data/set1"})
    assert r.status_code == 200, r.text
    claims = _claims(r.json()["access_token"])
    assert claims["scope"] == "storage.read:/data/set1" and claims["aud"] == STORAGE
    assert api.post(TOKEN, data=form | {"scope": "storage.read:/other"}).json()["error"] == "invalid_scope"
    assert api.post(TOKEN, data=form | {"scope": "storage.modify:/user.alice"}).json()["error"] == "invalid_scope"


def test_token_exchange_never_retargets_a_storage_token_at_another_audience(api, client):
    subject = _password(api, scope="storage.read:/data", audience=STORAGE).json()["access_token"]
    form = {"grant_type": EXCHANGE, "subject_token": subject, "subject_token_type": ACCESS_TYPE}
    r = api.post(TOKEN, data=form | {"scope": "storage.read:/data", "audience": "https://other.example.org"})
    assert r.status_code == 400 and r.json()["error"] == "invalid_target"
    api_token = _password(api, scope="lake.api storage.read:/data").json()["access_token"]
    r = api.post(TOKEN, data=form | {"subject_token": api_token, "scope": "storage.read:/data", "audience": STORAGE})
    assert r.status_code == 200 and _claims(r.json()["access_token"])["aud"] == STORAGE


def test_token_exchange_for_a_refresh_token_needs_a_client(api, client):
    subject = _password(api, scope="storage.read:/data", audience=STORAGE).json()["access_token"]
    form = {"grant_type": EXCHANGE, "subject_token": subject, "subject_token_type": ACCESS_TYPE,
            "requested_token_type": REFRESH_TYPE}  # fmt: skip
    assert api.post(TOKEN, data=form).json()["error"] == "invalid_client"
    creds = {"client_id": client["client_id"], "client_secret": client["client_secret"]}
    r = api.post(TOKEN, data=form | creds)
    assert r.status_code == 200 and r.json()["issued_token_type"] == REFRESH_TYPE
    refresh = r.json()["refresh_token"]
    r = api.post(TOKEN, data={"grant_type": "refresh_token", "refresh_token": refresh, **creds})
    assert _claims(r.json()["access_token"])["scope"] == "storage.read:/data"


def test_token_exchange_refuses_a_bad_subject_token(api):
    form = {"grant_type": EXCHANGE, "subject_token": "not.a.jwt", "subject_token_type": ACCESS_TYPE}
    r = api.post(TOKEN, data=form)
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"


def test_discovery_names_the_oauth_endpoints(api):
    config = api.get("/.well-known/openid-configuration").json()
    assert config["token_endpoint"].endswith("/v1/oauth/token")
    assert config["revocation_endpoint"].endswith("/v1/oauth/revoke")
    assert config["introspection_endpoint"].endswith("/v1/oauth/introspect")
    assert EXCHANGE in config["grant_types_supported"]
