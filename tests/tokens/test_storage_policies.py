"""Storage policies in the database: which storage.* paths and audiences accounts and groups get in tokens."""

import jwt
import pytest

from lake.testing.accounts import USER, USER_PASSWORD

TOKEN = "/v1/oauth/token"
POLICIES = "/v1/storage-policies"
CTA = "https://cta.example.org:8443"
OTHER = "https://other.example.org"


def _password(api, scope, audience=CTA):
    form = {"grant_type": "password", "username": USER, "password": USER_PASSWORD, "scope": scope,
            "audience": audience}  # fmt: skip
    return api.post(TOKEN, data=form)


def _granted(api, scope, audience=CTA):
    r = _password(api, scope, audience)
    assert r.status_code == 200, r.text
    return jwt.decode(r.json()["access_token"], options={"verify_signature": False})


def _refused(api, scope, audience=CTA):
    r = _password(api, scope, audience)
    assert r.status_code == 400 and r.json()["error"] == "invalid_scope", r.text


def _policy(root_api, subject, scope, audience=CTA):
    r = root_api.post(POLICIES, json={"subject": subject, "scope": scope, "audience": audience})
    assert r.status_code == 201, r.text
    return r.json()


def test_without_a_policy_a_non_owner_cannot_write_outside_its_scopes(api):
    _refused(api, "storage.create:/escape/cta/run1")


def test_account_policy_lets_a_non_owner_create_below_the_path_for_the_allowed_audience(root_api, api):
    _policy(root_api, f"account:{USER}", "storage.create:/escape/cta")
    claims = _granted(api, "storage.create:/escape/cta/run1 storage.create:/escape/cta")
    assert claims["scope"] == "storage.create:/escape/cta/run1 storage.create:/escape/cta"
    assert claims["aud"] == CTA


def test_policy_for_one_audience_refuses_another_audience(root_api, api):
    _policy(root_api, f"account:{USER}", "storage.create:/escape/cta")
    _refused(api, "storage.create:/escape/cta/run1", OTHER)
    _refused(api, "storage.create:/escape/cta/run1", f"{CTA} {OTHER}")


def test_policy_path_matches_whole_segments_only(root_api, api):
    _policy(root_api, f"account:{USER}", "storage.create:/escape/cta")
    _refused(api, "storage.create:/escape/ctabad")
    _refused(api, "storage.create:/escape")


def test_modify_policy_covers_create_but_create_does_not_cover_modify(root_api, api):
    _policy(root_api, f"account:{USER}", "storage.modify:/escape/cta")
    _policy(root_api, f"account:{USER}", "storage.create:/escape/lst")
    _granted(api, "storage.create:/escape/cta/a storage.modify:/escape/cta/b")
    _refused(api, "storage.modify:/escape/lst/a")


def test_any_audience_policy_allows_every_audience(root_api, api):
    _policy(root_api, f"account:{USER}", "storage.create:/escape/cta", "*")
    assert _granted(api, "storage.create:/escape/cta/x", f"{CTA} {OTHER}")["aud"] == [CTA, OTHER]


def test_group_policy_applies_to_default_members_and_to_optional_ones_only_when_asserted(root_api, api):
    for name in ("/escape", "/escape/prod"):
        root_api.post("/v1/groups", json={"name": name})
    root_api.post("/v1/groups/escape/members", json={"account": USER})
    root_api.post("/v1/groups/escape/prod/members", json={"account": USER, "optional": True})
    _policy(root_api, "group:/escape", "storage.create:/escape/cta")
    _policy(root_api, "group:/escape/prod", "storage.modify:/escape/prod")
    _granted(api, "storage.create:/escape/cta/x")
    _refused(api, "storage.modify:/escape/prod/x")
    assert _granted(api, "wlcg.groups:/escape/prod storage.modify:/escape/prod/x")["wlcg.groups"][0] == "/escape/prod"


def test_revoking_a_policy_stops_new_tokens(root_api, api):
    policy = _policy(root_api, f"account:{USER}", "storage.create:/escape/cta")
    _granted(api, "storage.create:/escape/cta/x")
    assert root_api.delete(f"{POLICIES}/{policy['id']}").status_code == 204
    _refused(api, "storage.create:/escape/cta/x")
    assert root_api.delete(f"{POLICIES}/{policy['id']}").status_code == 404


def test_refresh_rechecks_the_policy(root_api, api):
    policy = _policy(root_api, f"account:{USER}", "storage.create:/escape/cta")
    refresh = _password(api, "storage.create:/escape/cta/x offline_access").json()["refresh_token"]
    root_api.delete(f"{POLICIES}/{policy['id']}")
    r = api.post(TOKEN, data={"grant_type": "refresh_token", "refresh_token": refresh})
    assert r.status_code == 400 and r.json()["error"] == "invalid_scope"


def test_policies_are_listed_by_subject(root_api):
    _policy(root_api, f"account:{USER}", "storage.create:/escape/cta")
    _policy(root_api, "account:root", "storage.read:/escape")
    listed = root_api.get(POLICIES, params={"subject": f"account:{USER}"}).json()
    assert [(p["subject"], p["scope"], p["audience"]) for p in listed] == [
        (f"account:{USER}", "storage.create:/escape/cta", CTA)
    ]
    assert len(root_api.get(POLICIES).json()) == 2


@pytest.mark.parametrize(
    ("body", "status"),
    [({"subject": "alice", "scope": "storage.create:/a"}, 400),
     ({"subject": "account:nobody", "scope": "storage.create:/a"}, 404),
     ({"subject": "group:/missing", "scope": "storage.create:/a"}, 404),
     ({"subject": f"account:{USER}", "scope": "storage.create"}, 400),
     ({"subject": f"account:{USER}", "scope": "storage.create:/a/../b"}, 400),
     ({"subject": f"account:{USER}", "scope": "compute.create:/a"}, 400),
     ({"subject": f"account:{USER}", "scope": "storage.create:/a", "audience": "two words"}, 400)],
)  # fmt: skip
def test_malformed_policies_are_refused(root_api, body, status):
    assert root_api.post(POLICIES, json=body).status_code == status


def test_only_admins_manage_policies(user_api):
    assert user_api.post(POLICIES, json={"subject": f"account:{USER}", "scope": "storage.create:/"}).status_code == 403
    assert user_api.get(POLICIES).status_code == 403
    assert user_api.delete(f"{POLICIES}/1").status_code == 403
