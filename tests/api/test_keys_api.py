"""Admin routes for signing keys: states, rotation with the next key published ahead, JWKS contents."""


def _kids(api):
    return [key["kid"] for key in api.get("/.well-known/jwks.json").json()["keys"]]


def test_key_list_shows_a_current_and_a_published_next_key(root_api):
    keys = root_api.get("/v1/keys").json()
    assert sorted(key["state"] for key in keys) == ["current", "next"]
    assert set(_kids(root_api)) == {key["kid"] for key in keys}


def test_rotation_waits_for_the_publication_window_unless_forced(root_api):
    before = {key["state"]: key["kid"] for key in root_api.get("/v1/keys").json()}
    assert root_api.post("/v1/keys/rotate").status_code == 409
    r = root_api.post("/v1/keys/rotate", params={"force": "true"})
    assert r.status_code == 200, r.text
    after = {key["state"]: key for key in r.json()}
    assert after["current"]["kid"] == before["next"]
    assert after["retired"]["kid"] == before["current"] and after["retired"]["published_until"] is not None
    assert _kids(root_api) == [after["next"]["kid"], before["next"], before["current"]]


def test_api_token_signed_before_rotation_still_works(root_api):
    root_api.post("/v1/keys/rotate", params={"force": "true"})
    assert root_api.get("/v1/auth/whoami").status_code == 200


def test_only_admins_see_or_rotate_keys(user_api):
    assert user_api.get("/v1/keys").status_code == 403
    assert user_api.post("/v1/keys/rotate", params={"force": "true"}).status_code == 403
