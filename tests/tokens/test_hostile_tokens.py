"""Hostile tokens are refused by the validator, by the API (401 InvalidToken) and by the built-in endpoint.

Token-level attacks (forged algorithm, times, audience, issuer, key id, tampering, size) fail validation
everywhere; scope-level attacks (sibling prefix, traversal, pathless, create used to overwrite) validate
but grant nothing; a revoked refresh token is refused at the token endpoint.
"""

import base64
import hashlib
import hmac
import json
import time
import uuid

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from lake.core.errors import InvalidToken
from lake.core.scopes import StorageOp, storage_allowed
from lake.core.tokens import TokenValidator
from lake.logic.auth.keystore import KeyStore
from lake.testing.accounts import USER, USER_PASSWORD
from lake.testing.endpoint import running_endpoint

ISSUER = "https://issuer.hostile.test"
EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TYPE = "urn:ietf:params:oauth:token-type:access_token"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims(issuer, audience, **changes):
    now = int(time.time())
    claims = {"iss": issuer, "sub": "root", "aud": audience, "iat": now, "nbf": now - 60, "exp": now + 600,
              "jti": str(uuid.uuid4()), "wlcg.ver": "1.0", "scope": "storage.read:/data"}  # fmt: skip
    claims.update(changes)
    return {name: value for name, value in claims.items() if value is not None}


def _sign(keystore, claims, kid=None):
    key = keystore.current
    return jwt.encode(claims, key.key, algorithm=key.algorithm, headers={"kid": kid or key.kid, "typ": "JWT"})


def _unsigned(keystore, claims, alg, secret=b""):
    header = _b64(json.dumps({"alg": alg, "kid": keystore.current.kid, "typ": "JWT"}).encode())
    body = _b64(json.dumps(claims).encode())
    if alg == "none":
        return f"{header}.{body}."
    signature = hmac.new(secret, f"{header}.{body}".encode(), hashlib.sha256).digest()
    return f"{header}.{body}.{_b64(signature)}"


def _tampered(token):
    header, body, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    claims["scope"] = "storage.modify:/"
    return f"{header}.{_b64(json.dumps(claims).encode())}.{signature}"


def hostile_tokens(keystore, issuer, audience):
    """name -> a token that must fail validation (with the words the message must contain)."""
    public_pem = keystore.current.key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    now = int(time.time())
    good = _claims(issuer, audience)
    return {
        "alg-none": (_unsigned(keystore, good, "none"), "algorithm"),
        "hs256-with-public-key": (_unsigned(keystore, good, "HS256", public_pem), "algorithm"),
        "expired": (_sign(keystore, _claims(issuer, audience, iat=now - 900, nbf=now - 960, exp=now - 120)), "expired"),
        "not-yet-valid": (_sign(keystore, _claims(issuer, audience, nbf=now + 600)), "not valid yet"),
        "wrong-audience": (_sign(keystore, _claims(issuer, "https://elsewhere.test")), "not meant for this service"),
        "unknown-issuer": (_sign(keystore, _claims("https://evil.test", audience)), "not trusted"),
        "unknown-kid": (_sign(keystore, good, kid="es256-00000000"), "unknown key id"),
        "tampered-payload": (_tampered(_sign(keystore, good)), "bad signature"),
        "oversized": (_sign(keystore, _claims(issuer, audience, pad="x" * 9000)), "longer than"),
    }


NAMES = ["alg-none", "hs256-with-public-key", "expired", "not-yet-valid", "wrong-audience", "unknown-issuer",
         "unknown-kid", "tampered-payload", "oversized"]  # fmt: skip


@pytest.fixture(scope="module")
def keystore(tmp_path_factory):
    return KeyStore.load_or_create(tmp_path_factory.mktemp("keys"))


class CountingKeys:
    """A key source that counts how often the validator asks for keys."""

    def __init__(self, keystore):
        self.keystore, self.calls = keystore, 0

    def __call__(self):
        self.calls += 1
        return self.keystore.keyset()


@pytest.mark.parametrize("name", NAMES)
def test_validator_refuses(keystore, name):
    keys = CountingKeys(keystore)
    validator = TokenValidator({ISSUER: keys}, ["https://storage.test"])
    token, words = hostile_tokens(keystore, ISSUER, "https://storage.test")[name]
    with pytest.raises(InvalidToken, match=words):
        validator.validate(token)
    if name == "unknown-issuer":
        assert keys.calls == 0, "keys were fetched for an untrusted issuer"


@pytest.mark.parametrize("name", NAMES)
def test_api_refuses_with_401_invalid_token(api, services, name):
    token, words = hostile_tokens(services.keystore, services.settings.issuer, services.settings.api_audience)[name]
    r = api.get("/v1/auth/whoami", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401 and r.json()["code"] == "InvalidToken"
    assert words in r.json()["message"]


@pytest.mark.parametrize("name", [name for name in NAMES if name != "wrong-audience"])
def test_token_endpoint_refuses_them_as_subject_tokens_and_introspects_them_inactive(api, services, name):
    token, _words = hostile_tokens(services.keystore, services.settings.issuer, "https://storage.test")[name]
    form = {"grant_type": EXCHANGE, "subject_token": token, "subject_token_type": ACCESS_TYPE}
    r = api.post("/v1/oauth/token", data=form)
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    assert api.post("/v1/oauth/introspect", data={"token": token}).json() == {"active": False}


@pytest.fixture(scope="module")
def endpoint(keystore, tmp_path_factory):
    root = tmp_path_factory.mktemp("storage")
    for path in ("data/f", "database/f", "etc/f", "create/f"):
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(b"original")
    keys = CountingKeys(keystore)
    with running_endpoint(root, keys, issuer=ISSUER) as settings:
        yield settings, keys


@pytest.mark.parametrize("name", NAMES)
def test_endpoint_refuses_with_401(endpoint, keystore, name):
    settings, keys = endpoint
    calls = keys.calls
    token, _words = hostile_tokens(keystore, ISSUER, settings.origin())[name]
    r = httpx.get(f"{settings.origin()}/data/f", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401
    if name == "unknown-issuer":
        assert keys.calls == calls, "keys were fetched for an untrusted issuer"


SCOPE_ATTACKS = [
    ("sibling-prefix", "storage.read:/data", StorageOp.READ, "/database/f"),
    ("traversal-scope", "storage.read:/data/../etc", StorageOp.READ, "/etc/f"),
    ("pathless-scope", "storage.read", StorageOp.READ, "/data/f"),
]


@pytest.mark.parametrize(("name", "scope", "op", "path"), SCOPE_ATTACKS, ids=[a[0] for a in SCOPE_ATTACKS])
def test_scope_attacks_grant_nothing(endpoint, keystore, name, scope, op, path):
    settings, _keys = endpoint
    assert not storage_allowed([scope], op, path)
    token = _sign(keystore, _claims(ISSUER, settings.origin(), scope=scope))
    r = httpx.get(f"{settings.origin()}{path}", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 403


def test_scope_attacks_are_never_issued(api):
    for scope in ("storage.read:/data/../etc", "storage.read", "storage.read:/data/%2e%2e/etc"):
        form = {"grant_type": "password", "username": USER, "password": USER_PASSWORD, "scope": scope}
        r = api.post("/v1/oauth/token", data=form)
        assert r.status_code == 400 and r.json()["error"] == "invalid_scope", scope


def test_create_cannot_overwrite(endpoint, keystore):
    settings, _keys = endpoint
    assert not storage_allowed(["storage.create:/create"], StorageOp.MODIFY, "/create/f")
    token = _sign(keystore, _claims(ISSUER, settings.origin(), scope="storage.create:/create storage.read:/create"))
    headers = {"Authorization": f"Bearer {token}"}
    r = httpx.put(f"{settings.origin()}/create/f", content=b"overwritten", headers=headers)
    assert r.status_code in (403, 409)
    assert httpx.delete(f"{settings.origin()}/create/f", headers=headers).status_code == 403
    assert httpx.get(f"{settings.origin()}/create/f", headers=headers).content == b"original"


def test_revoked_refresh_token_is_refused_at_the_token_endpoint(api):
    form = {"grant_type": "password", "username": USER, "password": USER_PASSWORD, "scope": "lake.api offline_access"}
    refresh = api.post("/v1/oauth/token", data=form).json()["refresh_token"]
    assert api.post("/v1/oauth/revoke", data={"token": refresh}).status_code == 200
    r = api.post("/v1/oauth/token", data={"grant_type": "refresh_token", "refresh_token": refresh})
    assert r.status_code == 400
    assert r.json() == {"error": "invalid_grant", "error_description": "refresh token is unknown, expired or revoked"}
