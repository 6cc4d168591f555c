"""Lake's storage tokens are standard: python `scitokens` and Debian's scitokens-cpp tools accept them for the
right path and audience and refuse other paths (format conformance only: tokens.md section 6)."""

import json
import os
import shutil
import sqlite3
import subprocess
import time

import pytest
from cryptography.hazmat.primitives import serialization

from lake.logic.auth.keystore import KeyStore

ISSUER = "https://lake.example.org"
AUDIENCE = "https://storage.example.org"


@pytest.fixture(params=["ES256", "RS256"])
def keystore(request, tmp_path):
    return KeyStore.load_or_create(tmp_path / "keys", algorithm=request.param)


@pytest.fixture
def token(keystore):
    return keystore.mint(ISSUER, "alice", AUDIENCE, ["storage.read:/data", "storage.create:/data/out"], 600)


def test_python_scitokens_enforcer_accepts_the_right_path_and_audience(keystore, token, tmp_path, monkeypatch):
    scitokens = pytest.importorskip("scitokens")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    pem = keystore.current.key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    parsed = scitokens.SciToken.deserialize(token, public_key=pem)
    enforcer = scitokens.Enforcer(ISSUER, audience=[AUDIENCE])
    enforcer.add_validator("wlcg.ver", lambda value: value == "1.0")
    assert enforcer.test(parsed, "storage.read", "/data/run1/f.root"), enforcer.last_failure
    assert enforcer.test(parsed, "storage.create", "/data/out/x")
    assert not enforcer.test(parsed, "storage.read", "/other/f")
    assert not enforcer.test(parsed, "storage.create", "/data/x")
    other = scitokens.Enforcer(ISSUER, audience=["https://elsewhere.example.org"])
    other.add_validator("wlcg.ver", lambda value: value == "1.0")
    assert not other.test(parsed, "storage.read", "/data/f")


def _seed_cpp_cache(cache_home, jwks):
    """Pre-seed scitokens-cpp's key cache with Lake's JWKS (no discovery, no TLS: tokens.md 6.2)."""
    directory = cache_home / "scitokens"
    directory.mkdir(parents=True)
    now = int(time.time())
    keys = json.dumps({"jwks": jwks, "next_update": now + 600, "expires": now + 3600})
    with sqlite3.connect(directory / "scitokens_cpp.sqllite") as db:
        db.execute("CREATE TABLE keycache (issuer text UNIQUE PRIMARY KEY NOT NULL, keys text NOT NULL)")
        db.execute("INSERT INTO keycache VALUES (?, ?)", (ISSUER, keys))


@pytest.mark.skipif(
    not (shutil.which("scitokens-verify") and shutil.which("scitokens-test-access")),
    reason="scitokens-cpp tools not installed (apt-get install scitokens-cpp; scripts/system-deps.sh)",
)
def test_scitokens_cpp_tools_accept_the_right_path_only(keystore, token, tmp_path):
    _seed_cpp_cache(tmp_path / "cache", keystore.jwks())
    env = os.environ | {"XDG_CACHE_HOME": str(tmp_path / "cache")}

    def run(*args):
        return subprocess.run(args, env=env, capture_output=True, text=True, timeout=60)

    verified = run("scitokens-verify", token)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    allowed = run("scitokens-test-access", token, ISSUER, AUDIENCE, "read", "/data/run1/f.root")
    assert allowed.returncode == 0, allowed.stdout + allowed.stderr
    assert run("scitokens-test-access", token, ISSUER, AUDIENCE, "create", "/data/out/x").returncode == 0
    assert run("scitokens-test-access", token, ISSUER, AUDIENCE, "read", "/other/f").returncode != 0
    assert run("scitokens-test-access", token, ISSUER, AUDIENCE, "create", "/data/x").returncode != 0
    assert run("scitokens-test-access", token, ISSUER, "https://elsewhere.example.org", "read", "/data/f").returncode
    tampered = token[:-8] + ("A" * 8 if not token.endswith("A" * 8) else "B" * 8)
    assert run("scitokens-verify", tampered).returncode != 0
