"""Token exchange (RFC 8693) and introspection (RFC 7662) of a trusted external issuer's token.

The issuer is real (https on loopback with its own CA); an exchanged token is a Lake token for the account the
external subject is mapped to, within the external token's scopes and the account's scope policy.
"""

import json

import httpx
import pytest
from typer.testing import CliRunner

from lake.cli.main import app as cli
from lake.core.tokens import TokenValidator
from lake.testing.accounts import USER
from lake.testing.issuer import running_issuer
from lake.testing.server import running_lake
from lake.testing.tokens import claims as _claims

TOKEN = "/v1/oauth/token"
EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TYPE = "urn:ietf:params:oauth:token-type:access_token"
REFRESH_TYPE = "urn:ietf:params:oauth:token-type:refresh_token"
SUBJECT = "5f0c1b7e-external-alice"
STORAGE = "https://se.example.org:8443"


@pytest.fixture
def mapped(root_api, issuer):
    r = root_api.post(f"/v1/accounts/{USER}/identities", json={"issuer": issuer.url, "subject": SUBJECT})
    assert r.status_code == 201, r.text


def _exchange(api, subject_token, **form):
    body = {"grant_type": EXCHANGE, "subject_token": subject_token, "subject_token_type": ACCESS_TYPE, **form}
    return api.post(TOKEN, data=body)


def test_external_token_exchanges_for_a_narrower_storage_token_of_the_mapped_account(api, services, issuer, mapped):
    external = issuer.mint(SUBJECT, services.settings.api_audience, ["lake.api", "storage.read:/data"])
    r = _exchange(api, external, scope="storage.read:/data/set1", audience=STORAGE)
    assert r.status_code == 200, r.text
    token = r.json()["access_token"]
    lake_validator = TokenValidator({services.settings.issuer: services.keystore.keyset}, [STORAGE])
    claims = lake_validator.validate(token)
    assert claims.sub == USER and claims.iss == services.settings.issuer
    assert claims.scopes == ("storage.read:/data/set1",) and claims.aud == (STORAGE,)
    assert _claims(token)["scope"] == "storage.read:/data/set1" and _claims(token)["aud"] == STORAGE


def test_exchange_of_an_external_token_stays_within_its_scopes_and_the_account_policy(api, services, issuer, mapped):
    external = issuer.mint(SUBJECT, services.settings.api_audience, ["storage.read:/data", "storage.create:/"])
    assert _exchange(api, external, scope="storage.read:/other").json()["error"] == "invalid_scope"
    assert _exchange(api, external, scope="storage.create:/user.root").json()["error"] == "invalid_scope"
    r = _exchange(api, external, scope="storage.create:/user.alice/x", audience=STORAGE)
    assert r.status_code == 200 and _claims(r.json()["access_token"])["sub"] == USER


def test_exchange_without_scope_keeps_only_the_lake_scopes_of_the_external_token(api, services, issuer, mapped):
    audience = services.settings.api_audience
    external = issuer.mint(SUBJECT, audience, ["openid", "profile", "lake.api", "storage.read:/data"])
    r = _exchange(api, external)
    assert r.status_code == 200, r.text
    token = r.json()["access_token"]
    assert _claims(token)["scope"] == "lake.api storage.read:/data" and _claims(token)["aud"] == audience
    assert api.get("/v1/auth/whoami", headers={"Authorization": f"Bearer {token}"}).json()["name"] == USER


def test_exchange_of_an_unmapped_external_subject_is_an_invalid_grant(api, services, issuer):
    r = _exchange(api, issuer.mint("nobody-here", services.settings.api_audience, ["storage.read:/"]))
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    assert "is not mapped to a Lake account" in r.json()["error_description"]


def test_exchange_of_an_untrusted_issuers_token_is_an_invalid_grant_without_a_fetch(
    api, services, issuer, mapped, tmp_path
):
    with running_issuer(tmp_path / "untrusted") as untrusted:
        r = _exchange(api, untrusted.mint(SUBJECT, services.settings.api_audience, ["storage.read:/"]))
        assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
        assert "not trusted" in r.json()["error_description"]
        assert sum(untrusted.requests.values()) == 0
    assert sum(issuer.requests.values()) == 0


def test_exchange_of_an_external_token_for_another_audience_is_refused(api, issuer, mapped):
    r = _exchange(api, issuer.mint(SUBJECT, STORAGE, ["storage.read:/"]), scope="storage.read:/x", audience=STORAGE)
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    assert "not meant for this service" in r.json()["error_description"]


def test_exchange_of_an_external_token_for_a_refresh_token_needs_a_client(api, root_api, services, issuer, mapped):
    body = {"account": USER, "scopes": ["storage.read:/"], "audiences": [STORAGE]}
    client = root_api.post("/v1/oauth/clients", json=body).json()
    creds = {"client_id": client["client_id"], "client_secret": client["client_secret"]}
    external = issuer.mint(SUBJECT, services.settings.api_audience, ["storage.read:/data"])
    form = {"scope": "storage.read:/data", "audience": STORAGE, "requested_token_type": REFRESH_TYPE}
    r = _exchange(api, external, **form)
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    r = _exchange(api, external, **form, **creds)
    assert r.status_code == 200 and r.json()["issued_token_type"] == REFRESH_TYPE
    r = api.post(TOKEN, data={"grant_type": "refresh_token", "refresh_token": r.json()["refresh_token"], **creds})
    claims = _claims(r.json()["access_token"])
    assert claims["sub"] == USER and claims["scope"] == "storage.read:/data" and claims["aud"] == STORAGE


def test_introspection_of_an_external_token_shows_its_claims_and_the_mapped_account(api, services, issuer, mapped):
    external = issuer.mint(SUBJECT, services.settings.api_audience, ["lake.api"])
    info = api.post("/v1/oauth/introspect", data={"token": external}).json()
    assert info["active"] is True and info["sub"] == SUBJECT and info["username"] == USER
    assert info["iss"] == issuer.url and info["scope"] == "lake.api"
    unmapped = issuer.mint("nobody-here", services.settings.api_audience, ["lake.api"])
    assert api.post("/v1/oauth/introspect", data={"token": unmapped}).json() == {"active": False}


@pytest.mark.integration
def test_lake_token_exchanges_an_external_token_on_a_running_lake(tmp_path, issuer, monkeypatch):
    monkeypatch.setenv("LAKE_TRUSTED_ISSUERS", json.dumps([{"issuer": issuer.url, "ca_file": str(issuer.ca_cert)}]))
    with running_lake(tmp_path, endpoints=1, daemons=False) as lake:
        form = {"grant_type": "password", "username": "root", "password": lake.root_password}
        root = httpx.post(f"{lake.url}/v1/oauth/token", data=form).json()["access_token"]
        r = httpx.post(f"{lake.url}/v1/accounts/{lake.user}/identities", headers={"Authorization": f"Bearer {root}"},
                       json={"issuer": issuer.url, "subject": SUBJECT})  # fmt: skip
        assert r.status_code == 201, r.text
        external = issuer.mint(SUBJECT, lake.settings.api_audience, ["lake.api", "storage.read:/"])
        env = {"LAKE_URL": lake.url, "LAKE_TOKEN_FILE": str(tmp_path / "token"), "LAKE_TOKEN": external}
        args = ["token", "--scope", "storage.read:/x", "--audience", STORAGE]
        result = CliRunner().invoke(cli, args, env=env)
        assert result.exit_code == 0, result.output
        claims = _claims(result.stdout.strip())
        assert claims["sub"] == lake.user and claims["iss"] == lake.settings.issuer
        assert claims["scope"] == "storage.read:/x" and claims["aud"] == STORAGE
        denied = CliRunner().invoke(cli, ["token", "--scope", "storage.modify:/x"], env=env)
        assert denied.exit_code == 1, denied.output
