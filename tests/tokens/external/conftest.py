"""Fixtures of the external-issuer tests: a real https issuer, and server settings trusting it.

In this folder only: `settings` here replaces the plugin's default for these tests.
"""

import pytest

from lake.core.settings import ServerSettings, TrustedIssuerSettings
from lake.testing.issuer import running_issuer


@pytest.fixture
def issuer(tmp_path_factory):
    with running_issuer(tmp_path_factory.mktemp("issuer")) as running:
        yield running


@pytest.fixture
def settings(tmp_path, database_url, issuer):
    scopes = ["lake.api", "storage.read:/", "storage.stage:/", "storage.create:/user.alice"]
    trusted = TrustedIssuerSettings(issuer=issuer.url, ca_file=issuer.ca_cert, scopes=scopes)
    return ServerSettings(
        data_dir=tmp_path / "data", database_url=database_url, public_url="http://lake.test", trusted_issuers=[trusted]
    )
