"""Tokens from a trusted external OIDC issuer (a real https issuer on loopback with its own CA).

Its keys come from its discovery document over verified https and are cached; its subjects act as the Lake
accounts an administrator mapped them to, in the native API and in the Rucio dialect.
"""

import json
import time
import uuid
from pathlib import Path

import httpx
import jwt
import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from lake.cli.main import app as cli
from lake.core.errors import InvalidInput, InvalidToken, Unavailable
from lake.core.settings import ServerSettings, TrustedIssuerSettings
from lake.core.tokens import KEY_EXPIRY_SECONDS, KEY_REFRESH_SECONDS, TokenValidator
from lake.logic.auth.external import DiscoveryKeys
from lake.logic.services import Services
from lake.testing.issuer import DISCOVERY, LocalIssuer, running_issuer
from lake.testing.server import running_lake

SUBJECT = "8d9e2f6a-external-alice"
AUDIENCE = "https://lake.test"


def _bearer(token):
    return {"Authorization": f"Bearer {token}"}


def _map(root_api, issuer, account="alice", subject=SUBJECT):
    r = root_api.post(f"/v1/accounts/{account}/identities", json={"issuer": issuer.url, "subject": subject})
    assert r.status_code == 201, r.text
    return r.json()


def _validator(issuer, ca_file=True, clock=time.time):
    keys = DiscoveryKeys(issuer.url, str(issuer.ca_cert) if ca_file else None)
    return TokenValidator({issuer.url: keys}, [AUDIENCE], clock=clock)


def _signed_at(issuer: LocalIssuer, now: float) -> str:
    """A token of the issuer's current key, issued at `now` (for a validator on a moved clock)."""
    key = issuer.keystore.current
    claims = {"iss": issuer.url, "sub": SUBJECT, "aud": AUDIENCE, "iat": int(now), "nbf": int(now) - 60,
              "exp": int(now) + 600, "jti": str(uuid.uuid4()), "wlcg.ver": "1.0"}  # fmt: skip
    return jwt.encode(claims, key.key, algorithm=key.algorithm, headers={"kid": key.kid, "typ": "JWT"})


# --- the native API -------------------------------------------------------------------------------


def test_mapped_external_token_acts_as_the_mapped_account(api, root_api, settings, issuer):
    assert _map(root_api, issuer) == {
        "account": "alice", "identity": f"SUB={SUBJECT}, ISS={issuer.url}", "type": "OIDC"
    }  # fmt: skip
    r = api.get("/v1/auth/whoami", headers=_bearer(issuer.mint(SUBJECT, settings.api_audience)))
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "alice"


def test_external_subject_named_like_an_account_is_not_that_account(api, root_api, settings, issuer):
    r = api.get("/v1/auth/whoami", headers=_bearer(issuer.mint("root", settings.api_audience)))
    assert r.status_code == 401 and r.json()["code"] == "Unauthenticated"


def test_unmapped_subject_is_refused_as_unauthenticated(api, settings, issuer):
    r = api.get("/v1/auth/whoami", headers=_bearer(issuer.mint("nobody-here", settings.api_audience)))
    assert r.status_code == 401 and r.json()["code"] == "Unauthenticated"
    assert "is not mapped to a Lake account" in r.json()["message"]


def test_mapping_needs_an_administrator(user_api, issuer):
    r = user_api.post("/v1/accounts/alice/identities", json={"issuer": issuer.url, "subject": SUBJECT})
    assert r.status_code == 403


def test_external_token_for_another_audience_is_refused(api, root_api, issuer):
    _map(root_api, issuer)
    r = api.get("/v1/auth/whoami", headers=_bearer(issuer.mint(SUBJECT, "https://elsewhere.test")))
    assert r.status_code == 401 and r.json()["code"] == "InvalidToken"
    assert "not meant for this service" in r.json()["message"]


def test_audiences_configured_for_an_external_issuer_do_not_widen_lake_tokens(services, issuer):
    token = services.keystore.mint(services.settings.issuer, "alice", "https://only-for-iam.test", ["lake.api"], 600)
    trusted = TrustedIssuerSettings(issuer=issuer.url, ca_file=issuer.ca_cert, audiences=["https://only-for-iam.test"])
    other = Services.from_settings(services.settings.model_copy(update={"trusted_issuers": [trusted]}), migrate=False)
    try:
        with pytest.raises(InvalidToken, match="not meant for this service"):
            other.validator.validate(token)
        assert other.validator.validate(issuer.mint(SUBJECT, "https://only-for-iam.test")).sub == SUBJECT
    finally:
        other.close()


def test_unknown_issuer_causes_no_fetch_even_when_external_issuers_are_trusted(api, services, issuer):
    key = services.keystore.current
    claims = {"iss": "https://evil.test", "sub": "root", "aud": services.settings.api_audience,
              "iat": int(time.time()), "exp": int(time.time()) + 600, "jti": "j", "wlcg.ver": "1.0"}  # fmt: skip
    token = jwt.encode(claims, key.key, algorithm=key.algorithm, headers={"kid": key.kid})
    r = api.get("/v1/auth/whoami", headers=_bearer(token))
    assert r.status_code == 401 and "not trusted" in r.json()["message"]
    assert sum(issuer.requests.values()) == 0


# --- key fetching ---------------------------------------------------------------------------------


def test_issuer_over_plain_http_is_refused_without_a_fetch(tmp_path):
    with running_issuer(tmp_path, tls=False) as plain:
        with pytest.raises(ValidationError, match="https"):
            ServerSettings(trusted_issuers=[{"issuer": plain.url}])
        with pytest.raises(InvalidInput, match="not https"):
            DiscoveryKeys(plain.url)
        assert sum(plain.requests.values()) == 0


def test_issuer_whose_certificate_is_from_an_untrusted_ca_is_refused(issuer):
    with pytest.raises(Unavailable, match="CERTIFICATE_VERIFY_FAILED"):
        _validator(issuer, ca_file=False).validate(issuer.mint(SUBJECT, AUDIENCE))
    assert sum(issuer.requests.values()) == 0


def test_discovery_document_naming_another_issuer_is_refused(issuer):
    issuer.document_changes["issuer"] = "https://impostor.test"
    with pytest.raises(Unavailable, match="names issuer"):
        _validator(issuer).validate(issuer.mint(SUBJECT, AUDIENCE))
    assert issuer.requests[DISCOVERY] == 1 and issuer.key_fetches == 0


@pytest.mark.parametrize("jwks_uri", ["http://127.0.0.1:{port}/jwks", "https://localhost:{port}/jwks", "/jwks"])
def test_jwks_uri_off_the_issuer_origin_is_never_fetched(issuer, jwks_uri):
    issuer.document_changes["jwks_uri"] = jwks_uri.format(port=issuer.url.rsplit(":", 1)[1])
    with pytest.raises(Unavailable, match="jwks_uri"):
        _validator(issuer).validate(issuer.mint(SUBJECT, AUDIENCE))
    assert issuer.key_fetches == 0


def test_keys_are_cached_between_tokens(issuer):
    validator = _validator(issuer)
    for _ in range(3):
        assert validator.validate(issuer.mint(SUBJECT, AUDIENCE)).sub == SUBJECT
    assert issuer.requests[DISCOVERY] == 1 and issuer.key_fetches == 1


def test_cached_keys_keep_working_while_the_issuer_is_down_until_they_expire(issuer):
    now = [time.time()]
    validator = _validator(issuer, clock=lambda: now[0])
    validator.validate(_signed_at(issuer, now[0]))
    issuer.stop()
    now[0] += KEY_REFRESH_SECONDS + 1  # the refresh fails: the cached keys stay
    assert validator.validate(_signed_at(issuer, now[0])).sub == SUBJECT
    now[0] += KEY_EXPIRY_SECONDS  # past expiry with the issuer still down: keys dropped
    with pytest.raises(Unavailable, match="cannot fetch"):
        validator.validate(_signed_at(issuer, now[0]))


def test_rotated_key_is_picked_up_by_one_refetch_and_unknown_kids_are_rate_limited(issuer):
    validator = _validator(issuer)
    validator.validate(issuer.mint(SUBJECT, AUDIENCE))
    issuer.new_key()
    assert validator.validate(issuer.mint(SUBJECT, AUDIENCE)).sub == SUBJECT
    assert issuer.key_fetches == 2
    claims = jwt.decode(issuer.mint(SUBJECT, AUDIENCE), options={"verify_signature": False})
    forged = jwt.encode(claims, issuer.keystore.current.key, algorithm="ES256", headers={"kid": "es256-unknown"})
    with pytest.raises(InvalidToken, match="unknown key id"):
        validator.validate(forged)
    assert issuer.key_fetches == 2


# --- a real running lake --------------------------------------------------------------------------


@pytest.mark.integration
def test_external_token_works_on_a_running_lake_natively_and_in_the_rucio_dialect(tmp_path, issuer, monkeypatch):
    trusted = [{"issuer": issuer.url, "ca_file": str(issuer.ca_cert)}]
    monkeypatch.setenv("LAKE_TRUSTED_ISSUERS", json.dumps(trusted))
    with running_lake(tmp_path, endpoints=1, daemons=False) as lake:
        _map_with_cli(lake.url, lake.root_password, issuer, tmp_path / "root-token")
        headers = _bearer(issuer.mint(SUBJECT, lake.settings.api_audience))
        with httpx.Client(base_url=lake.url, headers=headers, follow_redirects=True) as http:
            r = http.post("/v1/dids", json={"scope": "user.alice", "name": "external-ds", "type": "DATASET"})
            assert r.status_code == 201, r.text
            r = http.get("/v1/dids/user.alice/external-ds")
            assert r.status_code == 200 and r.json()["account"] == "alice"
            r = http.get("/rucio/accounts/whoami")
            assert r.status_code == 200 and r.json()["account"] == "alice"
            r = http.get("/rucio/auth/validate")
            assert "'account': 'alice'" in r.text
        assert issuer.key_fetches == 1


def _map_with_cli(url: str, root_password: str, issuer: LocalIssuer, token_file: Path) -> None:
    """`lake login` as root, then `lake account add-identity` (the admin's way to map an external subject)."""
    env = {"LAKE_URL": url, "LAKE_TOKEN_FILE": str(token_file), "LAKE_TOKEN": ""}
    runner = CliRunner()
    login = runner.invoke(cli, ["login", "--username", "root", "--password", root_password], env=env)
    assert login.exit_code == 0, login.output
    args = ["account", "add-identity", "alice", "--issuer", issuer.url, "--subject", SUBJECT]
    result = runner.invoke(cli, args, env=env)
    assert result.exit_code == 0, result.output
    assert f"SUB={SUBJECT}" in result.output
