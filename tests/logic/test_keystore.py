"""The issuer's key store: key files, rotation, JWKS, WLCG-profile minting, and interop with scitokens."""

from __future__ import annotations

import importlib.util
import os
import stat
import time
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from lake.core.errors import Conflict, InvalidInput, InvalidToken
from lake.core.scopes import claims_allow_storage
from lake.core.tokens import TokenValidator
from lake.logic.auth.keystore import MAX_LIFETIME, RETENTION, KeyStore

ISSUER = "https://lake.example"
AUDIENCE = "https://storage.example"
SCOPES = ["storage.read:/data", "storage.create:/data/out"]


@pytest.fixture(params=["ES256", "RS256"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> KeyStore:
    return KeyStore.load_or_create(tmp_path / "keys", request.param)


def validator_for(store: KeyStore) -> TokenValidator:
    return TokenValidator({ISSUER: store.keyset}, [AUDIENCE])


def mint(store: KeyStore, **options: object) -> str:
    arguments: dict[str, object] = {"scopes": SCOPES, "lifetime": 900, **options}
    return store.mint(ISSUER, "u-123", AUDIENCE, **arguments)  # type: ignore[arg-type]


def test_first_load_creates_a_current_and_a_next_key_file_with_mode_0600(store: KeyStore) -> None:
    pems = sorted(path.name for path in store.directory.glob("*.pem"))
    assert pems == sorted([f"{store.current.kid}.pem", f"{store.next.kid}.pem"])
    assert all(name.startswith(store.algorithm.lower() + "-") for name in pems)
    for name in [*pems, "keys.json"]:
        assert stat.S_IMODE((store.directory / name).stat().st_mode) == 0o600


def test_reloading_the_directory_keeps_the_same_key(store: KeyStore) -> None:
    again = KeyStore.load_or_create(store.directory, store.algorithm)
    assert again.jwks() == store.jwks()


def test_jwks_publishes_public_keys_with_kid_kty_alg_and_use(store: KeyStore) -> None:
    upcoming, entry = store.jwks()["keys"]
    assert (upcoming["kid"], entry["kid"]) == (store.next.kid, store.current.kid)
    assert entry["alg"] == store.algorithm
    assert entry["use"] == "sig"
    expected = {"EC": {"crv", "x", "y"}, "RSA": {"n", "e"}}[entry["kty"]]
    assert set(entry) == {"kid", "kty", "alg", "use"} | expected  # no private parameters


def test_minted_token_validates_and_carries_wlcg_profile_claims(store: KeyStore) -> None:
    token = mint(store, groups=["/vo", "/vo/prod"])
    header = jwt.get_unverified_header(token)
    assert header == {"alg": store.algorithm, "kid": store.current.kid, "typ": "JWT"}
    claims = validator_for(store).validate(token)
    raw = claims.raw
    assert (claims.iss, claims.sub, claims.aud) == (ISSUER, "u-123", (AUDIENCE,))
    assert raw["wlcg.ver"] == "1.0"
    assert raw["nbf"] == raw["iat"] - 60 and raw["exp"] == raw["iat"] + 900
    assert claims.scopes == tuple(SCOPES) and claims.groups == ("/vo", "/vo/prod")
    assert len(claims.jti) == 36
    assert claims_allow_storage(claims, "create", "/data/out/f")


def test_every_token_gets_a_fresh_jti(store: KeyStore) -> None:
    validator = validator_for(store)
    assert validator.validate(mint(store)).jti != validator.validate(mint(store)).jti


def test_token_from_the_old_key_still_validates_after_rotation(store: KeyStore) -> None:
    old_kid = store.current.kid
    old_token = mint(store)
    published_next = store.next.kid
    new_kid = store.rotate()
    new_token = mint(store)
    assert new_kid == published_next != old_kid
    assert jwt.get_unverified_header(new_token)["kid"] == new_kid
    assert [key["kid"] for key in store.jwks()["keys"]] == [store.next.kid, new_kid, old_kid]
    validator = validator_for(store)
    assert validator.validate(old_token).sub == validator.validate(new_token).sub == "u-123"


def test_a_validator_with_a_callable_keyset_picks_up_a_rotated_key(store: KeyStore) -> None:
    validator = validator_for(store)
    validator.validate(mint(store))
    store.rotate()
    assert validator.validate(mint(store)).sub == "u-123"


def test_after_a_restart_the_newest_key_still_signs(store: KeyStore) -> None:
    store.rotate()
    newest = store.rotate()
    assert KeyStore.load_or_create(store.directory, store.algorithm).current.kid == newest


def test_switching_algorithm_adds_a_key_and_keeps_the_old_one_published(tmp_path: Path) -> None:
    es = KeyStore.load_or_create(tmp_path, "ES256")
    old_token = es.mint(ISSUER, "u-123", AUDIENCE, SCOPES, 900)
    rs = KeyStore.load_or_create(tmp_path, "RS256")
    assert rs.current.algorithm == "RS256"
    assert {key["kty"] for key in rs.jwks()["keys"]} == {"EC", "RSA"}
    assert validator_for(rs).validate(old_token).sub == "u-123"


def test_unsupported_signing_algorithm_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        KeyStore.load_or_create(tmp_path, "HS256")


@pytest.mark.parametrize(
    "scope",
    [
        "storage.read",
        "storage.read:",
        "storage.read:data",
        "storage.read:/data/../etc",
        "storage.modify:/a%2e%2e",
    ],
)
def test_pathless_or_non_canonical_storage_scope_is_never_issued(store: KeyStore, scope: str) -> None:
    with pytest.raises(InvalidInput, match="cannot issue"):
        mint(store, scopes=[scope])


def test_scope_with_whitespace_is_refused(store: KeyStore) -> None:
    with pytest.raises(InvalidInput, match="not a single scope"):
        mint(store, scopes=["storage.read:/a storage.modify:/"])


def test_bad_group_is_refused(store: KeyStore) -> None:
    with pytest.raises(InvalidInput, match="group"):
        mint(store, groups=["vo"])


@pytest.mark.parametrize("audience", ["", []])
def test_token_without_audience_is_never_issued(store: KeyStore, audience: object) -> None:
    with pytest.raises(InvalidInput, match="audience"):
        store.mint(ISSUER, "u-123", audience, SCOPES, 900)  # type: ignore[arg-type]


def test_audience_list_is_issued_as_a_list(store: KeyStore) -> None:
    token = store.mint(ISSUER, "u-123", [AUDIENCE, "storage.example"], SCOPES, 900)
    assert validator_for(store).validate(token).aud == (AUDIENCE, "storage.example")


@pytest.mark.parametrize("lifetime", [0, -1, 6 * 3600 + 1])
def test_lifetime_outside_the_profile_range_is_refused(store: KeyStore, lifetime: int) -> None:
    with pytest.raises(InvalidInput, match="lifetime"):
        mint(store, lifetime=lifetime)


def test_extra_claims_cannot_override_profile_claims(store: KeyStore) -> None:
    with pytest.raises(InvalidInput, match="override"):
        mint(store, extra={"aud": "https://wlcg.cern.ch/jwt/v1/any"})
    assert validator_for(store).validate(mint(store, extra={"acr": "mfa"})).raw["acr"] == "mfa"


def test_token_over_the_size_cap_is_never_issued(store: KeyStore) -> None:
    scopes = [f"storage.read:/data/{n:04d}" for n in range(400)]
    with pytest.raises(InvalidInput, match="over 8192"):
        mint(store, scopes=scopes)


def test_token_signed_by_another_store_is_rejected(store: KeyStore, tmp_path: Path) -> None:
    stranger = KeyStore.load_or_create(tmp_path / "other", store.algorithm)
    with pytest.raises(InvalidToken, match="unknown key id"):
        validator_for(store).validate(mint(stranger))


def test_key_file_readable_by_others_is_loaded_with_a_warning(
    store: KeyStore, caplog: pytest.LogCaptureFixture
) -> None:
    os.chmod(store.directory / f"{store.current.kid}.pem", 0o644)
    KeyStore.load_or_create(store.directory, store.algorithm)
    assert "readable by group or others" in caplog.text


HAVE_SCITOKENS = importlib.util.find_spec("scitokens") is not None


@pytest.mark.skipif(not HAVE_SCITOKENS, reason="python package 'scitokens' not installed (dev dependency)")
def test_scitokens_accepts_a_lake_minted_token(
    store: KeyStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # keep scitokens' key cache private
    import scitokens

    public_pem = store.current.key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    token = scitokens.SciToken.deserialize(mint(store), public_key=public_pem, audience=AUDIENCE)
    assert token["wlcg.ver"] == "1.0"
    enforcer = scitokens.Enforcer(ISSUER, audience=[AUDIENCE])
    enforcer.add_validator("wlcg.ver", lambda value: value == "1.0")
    time.sleep(0.01)  # scitokens wants iat strictly in the past
    assert enforcer.test(token, "storage.read", "/data/f"), enforcer.last_failure
    assert not enforcer.test(token, "storage.read", "/database")


class Clock:
    """An injectable clock (Unix seconds) that tests move forward."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def test_next_key_is_published_before_it_signs_so_a_cached_jwks_validates_after_rotation(store: KeyStore) -> None:
    upcoming = store.next.kid
    cached = TokenValidator({ISSUER: store.keyset()}, [AUDIENCE])  # a validator's key cache, never refreshed
    assert jwt.get_unverified_header(mint(store))["kid"] != upcoming
    store.rotate()
    token = mint(store)
    assert jwt.get_unverified_header(token)["kid"] == upcoming
    assert cached.validate(token).sub == "u-123"


def test_rotation_refuses_while_next_key_is_younger_than_the_publication_window(tmp_path: Path) -> None:
    clock = Clock()
    store = KeyStore.load_or_create(tmp_path, "ES256", clock=clock)
    current = store.current.kid
    with pytest.raises(Conflict, match="too short"):
        store.rotate(min_published=3600)
    assert store.current.kid == current
    clock.now += 3600
    assert store.rotate(min_published=3600) != current


def test_retired_key_stays_published_for_the_token_lifetime_then_is_removed(tmp_path: Path) -> None:
    clock = Clock()
    store = KeyStore.load_or_create(tmp_path, "ES256", clock=clock)
    old = store.current.kid
    store.rotate()
    clock.now += RETENTION - 1
    assert old in {key["kid"] for key in store.jwks()["keys"]}
    clock.now += 2
    assert old not in {key["kid"] for key in store.jwks()["keys"]}
    store.rotate()
    assert not (tmp_path / f"{old}.pem").exists()
    assert old not in {record.kid for record in store.records()}


def test_a_retired_key_is_kept_while_a_maximum_lifetime_token_it_signed_is_valid(tmp_path: Path) -> None:
    clock = Clock()
    store = KeyStore.load_or_create(tmp_path, "ES256", clock=clock)
    token = store.mint(ISSUER, "u-123", AUDIENCE, SCOPES, MAX_LIFETIME)
    store.rotate()
    clock.now = jwt.decode(token, options={"verify_signature": False})["exp"]
    kid = jwt.get_unverified_header(token)["kid"]
    assert kid in {key["kid"] for key in store.jwks()["keys"]}


def test_processes_sharing_the_key_directory_agree_after_a_rotation(store: KeyStore) -> None:
    other = KeyStore.load_or_create(store.directory, store.algorithm)
    assert other.jwks() == store.jwks()
    signing = other.rotate()
    assert store.current.kid == signing
    assert store.jwks() == other.jwks()
    assert validator_for(store).validate(mint(other)).sub == "u-123"


def test_a_directory_with_only_pem_files_loads_with_the_newest_key_current(tmp_path: Path) -> None:
    store = KeyStore.load_or_create(tmp_path, "ES256")
    old, newest = store.current.kid, store.rotate()
    (tmp_path / "keys.json").unlink()
    (tmp_path / f"{store.next.kid}.pem").unlink()
    os.utime(tmp_path / f"{old}.pem", ns=(1, 1))
    legacy = KeyStore.load_or_create(tmp_path, "ES256")
    states = {record.kid: record.state for record in legacy.records()}
    assert states[newest] == "current" and states[old] == "retired"
    assert list(states.values()).count("next") == 1
    assert {old, newest} <= {key["kid"] for key in legacy.jwks()["keys"]}
