"""Groups: the WLCG grammar, admin routes, and `wlcg.groups` in tokens from every account grant."""

import pytest

from lake.core.errors import InvalidInput
from lake.logic.auth.groups import validate_group
from lake.testing.accounts import USER, USER_PASSWORD
from lake.testing.tokens import claims as _claims

TOKEN = "/v1/oauth/token"
STORAGE = "https://storage.example.org"


def _password(api, scope):
    form = {"grant_type": "password", "username": USER, "password": USER_PASSWORD, "scope": scope}
    return api.post(TOKEN, data=form)


@pytest.fixture
def groups(root_api):
    """alice: default member of /escape and /escape/cta, optional member of /escape/cta/prod; /other exists."""
    for name in ("/escape/cta", "/escape", "/escape/cta/prod", "/other"):
        assert root_api.post("/v1/groups", json={"name": name}).status_code == 201
    for name, optional in (("/escape/cta", False), ("/escape", False), ("/escape/cta/prod", True)):
        r = root_api.post(f"/v1/groups{name}/members", json={"account": USER, "optional": optional})
        assert r.status_code == 201, r.text
    return root_api


@pytest.mark.parametrize("name", ["/escape", "/escape/cta", "/a1/b_2/c-3.d", "/0vo"])
def test_group_grammar_accepts_wlcg_paths(name):
    validate_group(name)


@pytest.mark.parametrize("name", ["escape", "/", "/escape/", "//escape", "/-x", "/_x", "/a b", "/a/.b", ""])
def test_group_grammar_refuses_anything_else(name):
    with pytest.raises(InvalidInput):
        validate_group(name)


def test_admin_creates_groups_and_lists_them_with_members(groups):
    listed = {group["name"]: group["members"] for group in groups.get("/v1/groups").json()}
    assert listed["/escape/cta/prod"] == [{"account": USER, "optional": True}]
    assert listed["/other"] == []
    assert groups.post("/v1/groups", json={"name": "/escape"}).status_code == 409
    assert groups.post("/v1/groups", json={"name": "escape"}).status_code == 400


def test_only_admins_manage_groups(user_api):
    assert user_api.post("/v1/groups", json={"name": "/mine"}).status_code == 403
    assert user_api.get("/v1/groups").status_code == 403


def test_token_without_group_scope_has_no_groups_claim(groups, api):
    assert "wlcg.groups" not in _claims(_password(api, "lake.api").json()["access_token"])


def test_wlcg_groups_scope_gives_the_default_groups_sorted(groups, api):
    r = _password(api, "wlcg.groups")
    assert r.status_code == 200, r.text
    assert _claims(r.json()["access_token"])["wlcg.groups"] == ["/escape", "/escape/cta"]
    assert r.json()["scope"] == "wlcg.groups"


def test_optional_group_only_on_request_and_first_in_request_order(groups, api):
    r = _password(api, "wlcg.groups:/escape/cta/prod wlcg.groups:/escape/cta")
    assert _claims(r.json()["access_token"])["wlcg.groups"] == ["/escape/cta/prod", "/escape/cta", "/escape"]


@pytest.mark.parametrize("scope", ["wlcg.groups:/other", "wlcg.groups:/escape/cta/dev", "wlcg.groups:escape",
                                   "wlcg.groups:"])  # fmt: skip
def test_unentitled_or_malformed_group_is_refused_with_invalid_scope(groups, api, scope):
    r = _password(api, f"wlcg.groups {scope}")
    assert r.status_code == 400 and r.json()["error"] == "invalid_scope"


def test_removed_member_no_longer_gets_the_group(groups, api):
    assert groups.delete(f"/v1/groups/escape/cta/members/{USER}").status_code == 204
    assert _claims(_password(api, "wlcg.groups").json()["access_token"])["wlcg.groups"] == ["/escape"]
    assert _password(api, "wlcg.groups:/escape/cta").json()["error"] == "invalid_scope"
    assert groups.delete(f"/v1/groups/escape/cta/members/{USER}").status_code == 404


def test_refresh_and_exchange_keep_asserting_groups_and_introspection_shows_them(groups, api):
    body = _password(api, "wlcg.groups:/escape/cta/prod offline_access").json()
    refreshed = api.post(TOKEN, data={"grant_type": "refresh_token", "refresh_token": body["refresh_token"]}).json()
    assert _claims(refreshed["access_token"])["wlcg.groups"] == ["/escape/cta/prod", "/escape", "/escape/cta"]
    form = {"grant_type": "urn:ietf:params:oauth:grant-type:token-exchange", "scope": "wlcg.groups",
            "subject_token": body["access_token"],
            "subject_token_type": "urn:ietf:params:oauth:token-type:access_token"}  # fmt: skip
    exchanged = api.post(TOKEN, data=form).json()
    assert _claims(exchanged["access_token"])["wlcg.groups"] == ["/escape", "/escape/cta"]
    info = api.post("/v1/oauth/introspect", data={"token": exchanged["access_token"]}).json()
    assert info["wlcg.groups"] == ["/escape", "/escape/cta"]


def test_client_credentials_token_carries_the_client_accounts_groups(groups):
    body = {"account": USER, "scopes": ["wlcg.groups", "storage.read:/"], "audiences": [STORAGE]}
    client = groups.post("/v1/oauth/clients", json=body).json()
    scope = "wlcg.groups:/escape/cta/prod storage.read:/"
    form = {"grant_type": "client_credentials", "client_id": client["client_id"],
            "client_secret": client["client_secret"], "scope": scope}  # fmt: skip
    r = groups.post(TOKEN, data=form)
    assert r.status_code == 200, r.text
    assert _claims(r.json()["access_token"])["wlcg.groups"] == ["/escape/cta/prod", "/escape", "/escape/cta"]
