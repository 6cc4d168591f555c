"""pytest plugin: settings, services, the API app and authenticated clients, on SQLite or PostgreSQL; a
transaction with a module's `sites` as RSEs (`conn`); a test issuer's key store and a token minter for endpoints.

Set LAKE_TEST_DATABASE_URL to a PostgreSQL URL to run the same tests against a real server; each test then
starts from empty tables. Without it every test gets its own SQLite file copied from a migrated template.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, text

from lake.api.app import create_app
from lake.core.settings import ServerSettings
from lake.db.engine import make_unpooled_engine
from lake.db.migrate import upgrade
from lake.db.schema import metadata
from lake.logic.auth.bootstrap import bootstrap_accounts
from lake.logic.auth.keystore import KeyStore
from lake.logic.services import Services
from lake.testing.accounts import ALICE as ALICE
from lake.testing.accounts import ROOT as ROOT
from lake.testing.accounts import ROOT_PASSWORD, USER, USER_PASSWORD
from lake.testing.clients import login
from lake.testing.factories import Sites, add_rses
from lake.testing.tokens import Minter, minter


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "lake.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def _postgres_url() -> str | None:
    url = os.environ.get("LAKE_TEST_DATABASE_URL")
    if url:
        upgrade(url)
    return url


def _empty_postgres(url: str) -> None:
    engine = make_unpooled_engine(url)
    names = ", ".join(table.name for table in metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} CASCADE"))
    engine.dispose()


@pytest.fixture
def database_url(tmp_path: Path, _sqlite_template: Path, _postgres_url: str | None) -> str:
    if _postgres_url:
        _empty_postgres(_postgres_url)
        return _postgres_url
    path = tmp_path / "lake.db"
    shutil.copy(_sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> ServerSettings:
    return ServerSettings(data_dir=tmp_path / "data", database_url=database_url, public_url="http://lake.test")


@pytest.fixture
def services(settings: ServerSettings) -> Iterator[Services]:
    svc = Services.from_settings(settings, migrate=False)
    with svc.db.transaction() as conn:
        bootstrap_accounts(conn, ROOT_PASSWORD, USER, USER_PASSWORD)
    yield svc
    svc.close()


@pytest.fixture
def api(services: Services) -> Iterator[TestClient]:
    """The API in-process, anonymous."""
    with TestClient(create_app(services), raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def root_api(services: Services) -> Iterator[TestClient]:
    with TestClient(create_app(services), raise_server_exceptions=False) as client:
        yield login(client, "root", ROOT_PASSWORD)


@pytest.fixture
def user_api(services: Services) -> Iterator[TestClient]:
    with TestClient(create_app(services), raise_server_exceptions=False) as client:
        yield login(client, USER, USER_PASSWORD)


@pytest.fixture
def sites() -> Sites:
    """The RSEs `conn` adds, by name -> attributes: none here; a module or conftest overrides this fixture."""
    return {}


@pytest.fixture
def conn(services: Services, sites: Sites) -> Iterator[Connection]:
    """One transaction for a logic test, with the `sites` added as RSEs with an http protocol each (`add_rses`)."""
    with services.db.transaction() as connection:
        add_rses(connection, sites)
        yield connection


@pytest.fixture(scope="session")
def keystore(tmp_path_factory: pytest.TempPathFactory) -> KeyStore:
    """The key store of the issuer test endpoints and caches trust (`TEST_ISSUER`): give them its `keyset()`."""
    return KeyStore.load_or_create(tmp_path_factory.mktemp("keys"))


@pytest.fixture(scope="session")
def mint(keystore: KeyStore) -> Minter:
    """mint(scopes..., audience=<url or urls>) -> a token from the trusted test issuer (see `minter`)."""
    return minter(keystore)
