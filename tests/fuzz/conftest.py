"""The lake each fuzzed operation runs against: fresh services on a little seeded catalog.

The seeded lake is built once per session and copied for each operation (accounts' password hashes and the signing
keys cost more than the fuzzing of most operations); against PostgreSQL every operation seeds its own.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fuzzing import Fingerprint, FuzzLake

from lake.api.app import create_app
from lake.core.models import DIDRef, ProtocolIn, RSEIn
from lake.core.replication import RuleIn
from lake.core.settings import ServerSettings
from lake.db.migrate import upgrade
from lake.logic.access.rucio_token import rucio_session_token
from lake.logic.auth.bootstrap import bootstrap_accounts
from lake.logic.catalog import rses
from lake.logic.rules import rules
from lake.logic.services import Services
from lake.testing.factories import ROOT, add_dataset
from lake.testing.plugin import ROOT_PASSWORD, USER, USER_PASSWORD


def seed_catalog(services: Services) -> None:
    """What the documents' examples name (`CERN-DISK`, `user.alice:run42`, ...), so that the examples phase gets
    past the lookups: two RSEs, a dataset of two files on one and a rule asking for a copy on the other."""
    with services.db.transaction() as conn:
        for port, (name, tier) in enumerate((("CERN-DISK", 1), ("DESY-DISK", 2)), start=9000):
            rses.add_rse(conn, ROOT, RSEIn(name=name, attributes={"tier": tier}))
            rses.add_protocol(conn, ROOT, name, ProtocolIn(scheme="http", hostname="127.0.0.1", port=port))
        dataset: DIDRef = add_dataset(conn, "run42", ["file-1", "file-2"], "CERN-DISK", caller=ROOT)
        rules.add_rule(conn, ROOT, RuleIn(scope=dataset.scope, name=dataset.name, rse_expression="DESY-DISK"))


def _settings(root: Path) -> ServerSettings:
    return ServerSettings(data_dir=root / "data", database_url=f"sqlite:///{root / 'lake.db'}",
                          public_url="http://lake.test")  # fmt: skip


@pytest.fixture(scope="session")
def _seeded_lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("seeded-lake")
    upgrade(_settings(root).resolved_database_url())
    services = Services.from_settings(_settings(root), migrate=False)
    with services.db.transaction() as conn:
        bootstrap_accounts(conn, ROOT_PASSWORD, USER, USER_PASSWORD)
    seed_catalog(services)
    with services.db.engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")  # the copies need only lake.db
    services.close()
    return root


def _fresh_services(request: pytest.FixtureRequest, tmp_path: Path) -> Services:
    if os.environ.get("LAKE_TEST_DATABASE_URL"):
        services: Services = request.getfixturevalue("services")
        seed_catalog(services)
        return services
    seeded: Path = request.getfixturevalue("_seeded_lake")
    shutil.copy(seeded / "lake.db", tmp_path / "lake.db")
    shutil.copytree(seeded / "data", tmp_path / "data")
    services = Services.from_settings(_settings(tmp_path), migrate=False)
    request.addfinalizer(services.close)
    return services


@pytest.fixture
def fuzz_lake(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[FuzzLake]:
    """The native app (the Rucio dialect mounted at /rucio) with root's credentials in both dialects."""
    services = _fresh_services(request, tmp_path)
    with services.db.transaction() as conn:
        rucio_token = rucio_session_token(conn, services.issuer, ROOT)
    lake = FuzzLake(
        app=create_app(services),
        services=services,
        admin_headers={"Authorization": f"Bearer {services.issuer.api_token('root')}"},
        rucio_headers={"X-Rucio-Auth-Token": rucio_token},
        fingerprint=Fingerprint(services),
    )
    yield lake
    lake.close()
