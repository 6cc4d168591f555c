"""An unreachable database is a clean 503 with `Retry-After` on both dialects, never a 500 or a hung request.

The lake logs in on its real (SQLite) catalog, then its `Database` is swapped for one pointing at a PostgreSQL
that refuses connections (nothing listens on port 1) or at a server that accepts TCP and never answers (the
connect timeout must end the request). Streamed listings open their own connection: their failure before the
first line must be the same 503.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from lake.api.app import create_app
from lake.core.errors import DatabaseUnavailable, Unavailable
from lake.db.engine import CONNECT_TIMEOUT, RETRY_AFTER, Database, is_unavailable, make_engine, postgres_connect_args
from lake.logic.services import Services
from lake.testing.accounts import ROOT_PASSWORD, USER, USER_PASSWORD
from lake.testing.clients import login, rucio_login

REFUSING = "postgresql://lake:lake@127.0.0.1:1/lake"
UPLOAD = {"rse": "DISK", "files": [{"scope": "user.alice", "name": "f.dat", "bytes": 1, "adler32": "00000001"}]}


@pytest.fixture
def lake(services: Services) -> Iterator[TestClient]:
    """The native app with /rucio, logged in as root on both dialects while the database was still there."""
    with TestClient(create_app(services), raise_server_exceptions=False) as client:
        rucio_login(login(client, "root", ROOT_PASSWORD), "root", ROOT_PASSWORD)
        assert client.get("/v1/rses").status_code == 200  # the caller's admin flag is now cached for a few seconds
        yield client


def database_goes_away(services: Services, monkeypatch: pytest.MonkeyPatch, url: str = REFUSING) -> None:
    down = Database(url)
    monkeypatch.setattr(services, "db", down)


def assert_v1_unavailable(response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["Retry-After"] == str(RETRY_AFTER)
    body = response.json()
    assert body["code"] == "DatabaseUnavailable" and body["retryable"] is True
    assert "127.0.0.1" not in body["message"]  # where the database lives stays in the server's log


def assert_rucio_unavailable(response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["Retry-After"] == str(RETRY_AFTER)
    assert response.headers["ExceptionClass"] == "DatabaseException"
    assert response.json()["ExceptionClass"] == "DatabaseException"


def test_v1_routes_answer_503_with_retry_after(lake, services, monkeypatch):
    database_goes_away(services, monkeypatch)
    assert_v1_unavailable(lake.get("/v1/rses/DISK"))  # one transaction
    assert_v1_unavailable(lake.post("/v1/uploads", json=UPLOAD))  # an upload is refused cleanly
    assert_v1_unavailable(lake.post("/v1/rules", json={"scope": "user.alice", "name": "x", "rse_expression": "A"}))


def test_streamed_listings_answer_503_before_their_first_line(lake, services, monkeypatch):
    database_goes_away(services, monkeypatch)
    assert_v1_unavailable(lake.get("/v1/rses"))
    assert_v1_unavailable(lake.get("/v1/replicas/user.alice/f.dat"))
    assert_rucio_unavailable(lake.get("/rucio/rses/"))


def test_rucio_routes_answer_503_database_exception(lake, services, monkeypatch):
    database_goes_away(services, monkeypatch)
    assert_rucio_unavailable(lake.get("/rucio/rses/DISK"))
    rule = {"dids": [{"scope": "user.alice", "name": "x"}], "copies": 1, "rse_expression": "A"}
    assert_rucio_unavailable(lake.post("/rucio/rules/", json=rule))  # not the 409 of a refused rule


def test_logins_while_the_database_is_away_are_503_not_wrong_credentials(lake, services, monkeypatch):
    database_goes_away(services, monkeypatch)
    anonymous = {"Authorization": "", "X-Rucio-Auth-Token": ""}
    for _ in range(services.throttle.per_account + 1):  # never counted as failed logins either
        assert_v1_unavailable(lake.post("/v1/auth/token", json={"username": USER, "password": USER_PASSWORD}))
        rucio = {"X-Rucio-Username": USER, "X-Rucio-Password": USER_PASSWORD} | anonymous
        assert_rucio_unavailable(lake.get("/rucio/auth/userpass", headers=rucio))


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP server that accepts connections and never says a word (a hung database host)."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join()
    for conn in [*accepted, listener]:
        conn.close()


def test_a_database_that_never_answers_is_503_after_the_connect_timeout(lake, services, monkeypatch, silent_server):
    database_goes_away(
        services, monkeypatch, f"postgresql://lake:lake@127.0.0.1:{silent_server}/lake?connect_timeout=1"
    )
    started = time.monotonic()
    assert_v1_unavailable(lake.get("/v1/rses/DISK"))
    assert time.monotonic() - started < 4


def test_postgres_engines_bound_their_connections_and_ping_before_use():
    assert postgres_connect_args(REFUSING)["connect_timeout"] == CONNECT_TIMEOUT
    assert "connect_timeout" not in postgres_connect_args(f"{REFUSING}?connect_timeout=1")  # the URL's own wins
    engine = make_engine(REFUSING)
    assert engine.pool._pre_ping  # type: ignore[attr-defined]  # a connection broken by a restart is replaced
    with pytest.raises(OperationalError) as caught:
        engine.connect()
    assert is_unavailable(caught.value)
    engine.dispose()


def test_a_sqlite_file_that_cannot_be_opened_is_unavailable(tmp_path):
    db = Database(f"sqlite:///{tmp_path}")  # a directory, not a database file
    with pytest.raises(DatabaseUnavailable) as caught, db.transaction() as conn:
        conn.execute(text("SELECT 1"))
    assert isinstance(caught.value, Unavailable) and caught.value.retry_after == RETRY_AFTER
    db.dispose()


@pytest.mark.parametrize(
    ("orig", "unavailable"),
    [
        (psycopg.OperationalError("connection failed: Connection refused"), True),  # client side: no SQLSTATE
        (psycopg.errors.AdminShutdown("terminating connection due to administrator command"), True),
        (psycopg.errors.CannotConnectNow("the database system is starting up"), True),
        (psycopg.errors.DeadlockDetected("deadlock detected"), False),  # one statement: TemporaryFailure
        (psycopg.errors.QueryCanceled("canceling statement due to statement timeout"), False),
        (Exception("database is locked"), False),
    ],
)
def test_only_connection_level_failures_count_as_unavailable(orig, unavailable):
    assert is_unavailable(OperationalError("SELECT 1", {}, orig)) is unavailable


def test_an_outage_is_logged_once_and_its_end_once(tmp_path, caplog):
    db = Database(REFUSING)
    caplog.set_level(logging.INFO, logger="lake.db.engine")
    for _ in range(3):
        with pytest.raises(DatabaseUnavailable), db.transaction():
            pass
    db.engine = make_engine(f"sqlite:///{tmp_path / 'back.db'}")
    with db.transaction() as conn:
        conn.execute(text("SELECT 1"))
    messages = [r.getMessage() for r in caplog.records if r.name == "lake.db.engine" and r.levelno >= logging.INFO]
    assert len(messages) == 2 and "unavailable" in messages[0] and "available again" in messages[1]
    assert all(r.exc_info is None for r in caplog.records)  # no traceback per failure
    db.dispose()
