"""Strict token validation and storage-scope matching (tokens.md sections 1.2, 2 and 5)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.utils import to_base64url_uint

from lake.core.errors import InvalidToken
from lake.core.scopes import StorageOp, check_scope_path, claims_allow_storage, storage_allowed, storage_scope
from lake.core.tokens import ANY_AUDIENCE, EXP_LEEWAY, KeySet, TokenValidator

ISSUER = "https://issuer.example"
AUDIENCE = "https://storage.example"
NOW = 1_800_000_000
EC_KEY = ec.generate_private_key(ec.SECP256R1())
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_jwk(kid: str, key: Any) -> dict[str, Any]:
    numbers = key.public_key().public_numbers()
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return {
            "kid": kid,
            "kty": "EC",
            "crv": "P-256",
            "alg": "ES256",
            "use": "sig",
            "x": to_base64url_uint(numbers.x, bit_length=256).decode(),
            "y": to_base64url_uint(numbers.y, bit_length=256).decode(),
        }
    return {
        "kid": kid,
        "kty": "RSA",
        "alg": "RS256",
        "use": "sig",
        "n": to_base64url_uint(numbers.n).decode(),
        "e": to_base64url_uint(numbers.e).decode(),
    }


KEYS = KeySet.from_jwks({"keys": [public_jwk("ec1", EC_KEY), public_jwk("rs1", RSA_KEY)]})


def claims(**overrides: Any) -> dict[str, Any]:
    """Good WLCG claims; an override of None removes the claim."""
    base = {
        "iss": ISSUER,
        "sub": "a1b2c3",
        "aud": AUDIENCE,
        "iat": NOW,
        "nbf": NOW - 60,
        "exp": NOW + 600,
        "jti": str(uuid.uuid4()),
        "wlcg.ver": "1.0",
        "scope": "storage.read:/data storage.create:/data/out",
    }
    base.update(overrides)
    return {name: value for name, value in base.items() if value is not None}


def sign(payload: dict[str, Any], key: Any = EC_KEY, kid: str | None = "ec1", alg: str = "ES256") -> str:
    headers = {"kid": kid} if kid is not None else {}
    return jwt.encode(payload, key, algorithm=alg, headers=headers)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hs256(payload: dict[str, Any], secret: bytes, kid: str) -> str:
    """An HS256 token built by hand (PyJWT refuses to use a PEM as an HMAC secret)."""
    signing_input = f"{b64(json.dumps({'alg': 'HS256', 'kid': kid}).encode())}.{b64(json.dumps(payload).encode())}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


class Clock:
    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class RecordingLoader:
    """A callable trusted keyset that records its calls and serves key sets in turn."""

    def __init__(self, *keysets: KeySet) -> None:
        self.keysets = list(keysets)
        self.calls = 0

    def __call__(self) -> KeySet:
        self.calls += 1
        return self.keysets[min(self.calls, len(self.keysets)) - 1]


def validator(trusted: Any = None, clock: Any = None, **options: Any) -> TokenValidator:
    return TokenValidator(
        trusted if trusted is not None else {ISSUER: KEYS},
        options.pop("audiences", [AUDIENCE]),
        clock=clock or Clock(),
        **options,
    )


def rejected(token: str, match: str, **options: Any) -> None:
    with pytest.raises(InvalidToken, match=match):
        validator(**options).validate(token)


# --- accepted tokens -------------------------------------------------------------------------------


def test_es256_token_is_accepted_with_its_claims() -> None:
    payload = claims(**{"wlcg.groups": ["/vo", "/vo/prod"]})
    result = validator().validate(sign(payload))
    assert (result.sub, result.iss, result.aud, result.jti) == ("a1b2c3", ISSUER, (AUDIENCE,), payload["jti"])
    assert result.scopes == ("storage.read:/data", "storage.create:/data/out")
    assert result.groups == ("/vo", "/vo/prod")
    assert (result.exp, result.iat) == (NOW + 600, NOW)
    assert result.has_scope("storage.read:/data") and not result.has_scope("storage.read")
    assert result.raw["wlcg.ver"] == "1.0"


def test_rs256_token_is_accepted() -> None:
    assert validator().validate(sign(claims(), RSA_KEY, "rs1", "RS256")).sub == "a1b2c3"


def test_unknown_claims_are_ignored() -> None:
    assert validator().validate(sign(claims(color="blue"))).raw["color"] == "blue"


# --- algorithms and keys ---------------------------------------------------------------------------


def test_alg_none_is_rejected() -> None:
    token = jwt.encode(claims(), None, algorithm="none", headers={"kid": "ec1"})
    rejected(token, "algorithm")


def test_hs256_signed_with_the_public_pem_is_rejected() -> None:
    pem = RSA_KEY.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    rejected(hs256(claims(), pem, "rs1"), "algorithm")


def test_rs256_header_on_an_ec_kid_is_rejected() -> None:
    rejected(sign(claims(), RSA_KEY, "ec1", "RS256"), "algorithm 'RS256' not allowed for key 'ec1'")


def test_es256_header_on_an_rsa_kid_is_rejected() -> None:
    rejected(sign(claims(), EC_KEY, "rs1", "ES256"), "not allowed for key 'rs1'")


def test_token_without_kid_is_rejected() -> None:
    rejected(sign(claims(), kid=None), "no 'kid'")


def test_unknown_kid_with_a_fixed_keyset_is_rejected() -> None:
    rejected(sign(claims(), kid="ec9"), "unknown key id")


def test_tampered_payload_is_rejected() -> None:
    header, _, signature = sign(claims()).split(".")
    forged = b64(json.dumps(claims(scope="storage.modify:/")).encode())
    rejected(f"{header}.{forged}.{signature}", "bad signature")


def test_hmac_and_unusable_jwks_entries_never_become_keys() -> None:
    small_rsa = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    mislabelled = {**public_jwk("ec2", EC_KEY), "alg": "RS256"}
    encryption = {**public_jwk("ec3", EC_KEY), "use": "enc"}
    hmac_key = {"kid": "h1", "kty": "oct", "k": b64(b"secret"), "alg": "HS256"}
    keys = KeySet.from_jwks({"keys": [hmac_key, mislabelled, encryption, public_jwk("r0", small_rsa), {}]})
    assert keys.kids() == frozenset()


def test_keyset_pins_algorithm_by_key_type() -> None:
    assert KEYS.get("ec1").algorithm == "ES256"  # type: ignore[union-attr]
    assert KEYS.get("rs1").algorithm == "RS256"  # type: ignore[union-attr]


# --- issuers and key refetch -----------------------------------------------------------------------


def test_issuer_not_allow_listed_is_rejected_before_any_key_lookup() -> None:
    loader = RecordingLoader(KEYS)
    with pytest.raises(InvalidToken, match="not trusted"):
        validator({ISSUER: loader}).validate(sign(claims(iss="https://evil.example")))
    assert loader.calls == 0


def test_unknown_kid_makes_a_callable_keyset_refetch_once() -> None:
    rotated = KeySet.from_jwks({"keys": [public_jwk("ec1", EC_KEY), public_jwk("ec2", EC_KEY)]})
    loader = RecordingLoader(KEYS, rotated)
    check = validator({ISSUER: loader})
    assert check.validate(sign(claims(), kid="ec2")).sub == "a1b2c3"
    assert loader.calls == 2


def test_unknown_kid_refetches_are_rate_limited() -> None:
    loader = RecordingLoader(KEYS)
    check = validator({ISSUER: loader})
    for kid in ("x1", "x2", "x3"):
        with pytest.raises(InvalidToken, match="unknown key id"):
            check.validate(sign(claims(), kid=kid))
    assert loader.calls == 2


# --- times -----------------------------------------------------------------------------------------


def test_expired_token_is_rejected() -> None:
    rejected(sign(claims(exp=NOW - EXP_LEEWAY)), "expired")


def test_token_expired_within_the_small_exp_leeway_is_accepted() -> None:
    assert validator().validate(sign(claims(exp=NOW - EXP_LEEWAY + 1))).sub == "a1b2c3"


def test_exp_gets_only_a_small_leeway() -> None:
    rejected(sign(claims(exp=NOW - 30)), "expired", leeway=60)


@pytest.mark.parametrize(("claim", "offset"), [("nbf", 61), ("nbf", 600), ("iat", 61), ("iat", 600)])
def test_nbf_or_iat_in_the_future_beyond_leeway_is_rejected(claim: str, offset: int) -> None:
    rejected(sign(claims(**{claim: NOW + offset})), "future")


@pytest.mark.parametrize(("claim", "offset"), [("nbf", 5), ("nbf", 60), ("iat", 30)])
def test_nbf_or_iat_slightly_in_the_future_is_accepted_within_leeway(claim: str, offset: int) -> None:
    assert validator().validate(sign(claims(**{claim: NOW + offset}))).sub == "a1b2c3"


@pytest.mark.parametrize("claim", ["exp", "iat"])
def test_token_without_exp_or_iat_is_rejected(claim: str) -> None:
    rejected(sign(claims(**{claim: None})), "'exp' and 'iat'")


@pytest.mark.parametrize("value", [float("inf"), True, "1900000000"])
def test_non_numeric_exp_is_rejected(value: Any) -> None:
    rejected(sign(claims(exp=value)), "not a number")


def test_cached_token_is_rejected_once_it_expires() -> None:
    clock = Clock()
    check = validator(clock=clock)
    token = sign(claims())
    assert check.validate(token) is check.validate(token)  # second call served from the cache
    clock.now = NOW + 600 + EXP_LEEWAY
    with pytest.raises(InvalidToken, match="expired"):
        check.validate(token)


# --- audience --------------------------------------------------------------------------------------


def test_token_without_audience_is_rejected() -> None:
    rejected(sign(claims(aud=None)), "no valid 'aud'")


@pytest.mark.parametrize("aud", ["https://other.example", "https://storage.example:443/", "HTTPS://STORAGE.EXAMPLE"])
def test_token_for_other_audience_is_rejected(aud: str) -> None:
    rejected(sign(claims(aud=aud)), "not meant for this service")


def test_audience_list_containing_ours_is_accepted() -> None:
    token = sign(claims(aud=["https://other.example", AUDIENCE]))
    assert validator().validate(token).aud == ("https://other.example", AUDIENCE)


def test_any_audience_is_rejected_by_default() -> None:
    rejected(sign(claims(aud=ANY_AUDIENCE)), "not meant for this service")


def test_any_audience_is_accepted_when_policy_allows() -> None:
    assert validator(accept_any_audience=True).validate(sign(claims(aud=ANY_AUDIENCE))).aud == (ANY_AUDIENCE,)


def test_any_audience_cannot_sneak_in_through_the_audience_list() -> None:
    with pytest.raises(ValueError):
        validator(audiences=[AUDIENCE, ANY_AUDIENCE])


# --- profile claims and size -----------------------------------------------------------------------


@pytest.mark.parametrize("ver", ["2.0", "0.9", "1", "1.0.1", "v1.0", None])
def test_unknown_major_or_malformed_wlcg_version_is_rejected(ver: str | None) -> None:
    rejected(sign(claims(**{"wlcg.ver": ver})), "wlcg.ver|WLCG profile version")


def test_newer_minor_wlcg_version_is_accepted() -> None:
    assert validator().validate(sign(claims(**{"wlcg.ver": "1.3"}))).raw["wlcg.ver"] == "1.3"


@pytest.mark.parametrize("claim", ["jti", "sub"])
def test_token_without_jti_or_sub_is_rejected(claim: str) -> None:
    rejected(sign(claims(**{claim: None})), f"'{claim}'")


def test_oversize_token_is_rejected_before_parsing() -> None:
    rejected("x" * 8193, "longer than 8192")


def test_signed_token_over_the_size_cap_is_rejected() -> None:
    scope = " ".join(f"storage.read:/data/{n}" for n in range(200))
    rejected(sign(claims(scope=scope)), "longer than 2048", max_size=2048)


@pytest.mark.parametrize("token", ["", "abc", "a.b.c", "e30.e30."])
def test_garbage_is_rejected_as_invalid_token(token: str) -> None:
    rejected(token, "malformed|no token|no .kid.")


def test_scope_claim_that_is_not_a_string_is_rejected() -> None:
    rejected(sign(claims(scope=["storage.read:/data"])), "'scope'")


# --- storage scopes --------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/data", "/data/f", "/data/sub/f", "/data/"])
def test_scope_covers_its_path_and_everything_below(path: str) -> None:
    assert storage_allowed(["storage.read:/data"], StorageOp.READ, path)


def test_scope_for_data_does_not_cover_database() -> None:
    assert not storage_allowed(["storage.read:/data"], "read", "/database")
    assert not storage_allowed(["storage.read:/data"], "read", "/database/f")


def test_directory_scope_does_not_cover_a_file_with_the_same_name() -> None:
    scopes = ["storage.create:/data/"]
    assert not storage_allowed(scopes, "create", "/data")
    assert storage_allowed(scopes, "create", "/data/f")
    assert storage_allowed(scopes, "create", "/data/")


def test_root_scope_covers_everything() -> None:
    assert storage_allowed(["storage.read:/"], "read", "/any/thing")


@pytest.mark.parametrize(
    "scope", ["storage.read:/data/../etc", "storage.read:/data/%2e%2e/etc", "storage.read:/data/%2E%2E/etc"]
)
def test_traversal_in_scope_path_never_grants(scope: str) -> None:
    assert not storage_allowed([scope], "read", "/etc/passwd")
    assert not storage_allowed([scope], "read", "/data/../etc/passwd")


@pytest.mark.parametrize("path", ["/data/../etc/passwd", "/data/%2e%2e/etc", "/data%2fx", "/data/f\x00", "data/f"])
def test_traversal_or_tricks_in_request_path_are_denied(path: str) -> None:
    assert not storage_allowed(["storage.read:/data"], "read", path)


@pytest.mark.parametrize("path", ["/data/./f", "/data//f", "/./data/f"])
def test_request_path_is_canonicalised_before_matching(path: str) -> None:
    assert storage_allowed(["storage.read:/data"], "read", path)
    assert not storage_allowed(["storage.read:/data/g"], "read", path)


@pytest.mark.parametrize("scope", ["storage.read", "storage.read:", "storage.read:data"])
def test_pathless_or_relative_storage_scope_grants_nothing(scope: str) -> None:
    assert not storage_allowed([scope], "read", "/data")


def test_modify_covers_create() -> None:
    assert storage_allowed(["storage.modify:/data"], "create", "/data/f")
    assert storage_allowed(["storage.modify:/data"], "modify", "/data/f")


def test_create_does_not_grant_modify_or_delete() -> None:
    assert not storage_allowed(["storage.create:/data"], StorageOp.MODIFY, "/data/f")


def test_stage_does_not_grant_read() -> None:
    assert storage_allowed(["storage.stage:/tape"], "stage", "/tape/f")
    assert not storage_allowed(["storage.stage:/tape"], "read", "/tape/f")


@pytest.mark.parametrize("scope", ["storage.modify:/", "storage.create:/", "storage.stage:/", "storage.poll:/"])
def test_read_is_granted_only_by_read(scope: str) -> None:
    assert not storage_allowed([scope], "read", "/data/f")


def test_read_grants_nothing_but_read() -> None:
    for op in (StorageOp.CREATE, StorageOp.MODIFY, StorageOp.STAGE):
        assert not storage_allowed(["storage.read:/"], op, "/data/f")


def test_non_storage_scopes_and_empty_scopes_deny() -> None:
    assert not storage_allowed(["openid", "compute.read", "read:/data"], "read", "/data/f")
    assert not storage_allowed([], "read", "/data/f")


def test_claims_allow_storage_uses_the_token_scopes() -> None:
    result = validator().validate(sign(claims()))
    assert claims_allow_storage(result, "create", "/data/out/f")
    assert not claims_allow_storage(result, "create", "/data/f")


@pytest.mark.parametrize("path", ["/", "/data", "/data/", "/a/b.c/d..e", "/a/%41"])
def test_canonical_scope_paths_pass(path: str) -> None:
    check_scope_path(path)


@pytest.mark.parametrize(
    "path",
    [
        "",
        "data",
        "/a/./b",
        "/a/../b",
        "/..",
        "/a//b",
        "/a/%2e%2e",
        "/a%2Fb",
        "/a%5cb",
        "/a\x00b",
        "/a\nb",
        "/a%00",
    ],
)
def test_non_canonical_scope_paths_are_rejected(path: str) -> None:
    with pytest.raises(InvalidToken, match="non-canonical"):
        check_scope_path(path)


def test_storage_scope_builds_a_scope_only_for_canonical_paths() -> None:
    assert storage_scope(StorageOp.MODIFY, "/data/out") == "storage.modify:/data/out"
    with pytest.raises(InvalidToken):
        storage_scope("read", "/data/../etc")
