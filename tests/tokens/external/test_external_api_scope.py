"""An external token maps to an account but counts only with the scopes its issuer is trusted for.

The folder's settings trust the issuer for `lake.api`, reading and staging anywhere, and creating under
`/user.alice` (conftest.py).
"""

import jwt
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from lake.api.app import create_app
from lake.core.settings import ServerSettings, TrustedIssuerSettings
from lake.db import schema as t
from lake.logic.auth.bootstrap import bootstrap_accounts
from lake.logic.services import Services
from lake.testing.accounts import ROOT_PASSWORD, USER, USER_PASSWORD

SUBJECT = "7d1e-external-alice"
TOKEN = "/v1/oauth/token"
EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TYPE = "urn:ietf:params:oauth:token-type:access_token"
STORAGE = "https://se.example.org:8443"


@pytest.fixture
def mapped(root_api, issuer):
    r = root_api.post(f"/v1/accounts/{USER}/identities", json={"issuer": issuer.url, "subject": SUBJECT})
    assert r.status_code == 201, r.text


def _dids(services):
    with services.db.transaction() as conn:
        return conn.execute(select(func.count()).select_from(t.dids)).scalar()


def test_external_token_with_the_api_scope_acts_as_the_mapped_account(api, services, issuer, mapped):
    token = issuer.mint(SUBJECT, services.settings.api_audience, ["lake.api"])
    assert api.get("/v1/auth/whoami", headers={"Authorization": f"Bearer {token}"}).json()["name"] == USER
    assert api.get("/rucio/accounts/whoami", headers={"X-Rucio-Auth-Token": token}).json()["account"] == USER


def test_external_storage_only_token_is_refused_on_the_api_in_both_dialects(api, services, issuer, mapped):
    token = issuer.mint(SUBJECT, services.settings.api_audience, ["openid", "storage.read:/"])
    before = _dids(services)
    body = {"scope": "user.alice", "name": "x", "type": "DATASET"}
    r = api.post("/v1/dids", json=body, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 403 and r.json()["code"] == "InsufficientScope"
    r = api.post("/rucio/dids/user.alice/y", json={"type": "DATASET"}, headers={"X-Rucio-Auth-Token": token})
    assert r.status_code == 403 and r.headers["exceptionclass"] == "AccessDenied"
    assert _dids(services) == before


def test_exchange_narrows_an_external_token_to_what_its_issuer_is_trusted_for(api, services, issuer, mapped):
    external = issuer.mint(SUBJECT, services.settings.api_audience, ["storage.create:/", "storage.modify:/"])
    form = {"grant_type": EXCHANGE, "subject_token": external, "subject_token_type": ACCESS_TYPE}
    r = api.post(TOKEN, data=form | {"audience": STORAGE})
    assert r.status_code == 200, r.text
    claims = jwt.decode(r.json()["access_token"], options={"verify_signature": False})
    assert claims["scope"] == "storage.create:/user.alice"  # modify is not trusted; create only below /user.alice
    r = api.post(TOKEN, data=form | {"scope": "storage.modify:/user.alice", "audience": STORAGE})
    assert r.status_code == 400 and r.json()["error"] == "invalid_scope"


def test_introspection_shows_only_the_trusted_scopes_of_an_external_token(api, services, issuer, mapped):
    external = issuer.mint(SUBJECT, services.settings.api_audience, ["lake.api", "storage.modify:/data", "openid"])
    info = api.post("/v1/oauth/introspect", data={"token": external}).json()
    assert info["active"] is True and info["scope"] == "lake.api"


@pytest.fixture
def read_only_trust(tmp_path, database_url, issuer):
    trusted = TrustedIssuerSettings(issuer=issuer.url, ca_file=issuer.ca_cert, scopes=["storage.read:/"])
    return ServerSettings(
        data_dir=tmp_path / "data", database_url=database_url, public_url="http://lake.test", trusted_issuers=[trusted]
    )


def test_issuer_not_trusted_for_the_api_scope_cannot_act_on_the_api_even_if_its_token_says_so(read_only_trust, issuer):
    svc = Services.from_settings(read_only_trust, migrate=False)
    with svc.db.transaction() as conn:
        bootstrap_accounts(conn, ROOT_PASSWORD, USER, USER_PASSWORD)
    with TestClient(create_app(svc), raise_server_exceptions=False) as api:
        token = issuer.mint(SUBJECT, read_only_trust.api_audience, ["lake.api"])
        r = api.get("/v1/auth/whoami", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 403 and r.json()["code"] == "InsufficientScope"
    svc.close()
