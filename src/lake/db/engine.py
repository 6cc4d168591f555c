"""Engines and the unit of work: one transaction per request or daemon iteration.

A database that goes away (stopped, restarting, connection lost) surfaces as one error everywhere:
`Database.transaction` and `Database.streaming` turn connection-level failures into `DatabaseUnavailable`
(503 with `Retry-After` in the API, a backoff in the daemons), logged once per outage. PostgreSQL connections
are bounded (connect timeout, TCP keepalives) and pinged at checkout, so a request never hangs on a dead server
and the first one after a restart gets a fresh connection instead of a broken pooled one.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError, OperationalError
from sqlalchemy.pool import NullPool

from lake.core.errors import DatabaseUnavailable, LakeError, TemporaryFailure

log = logging.getLogger(__name__)

RETRY_AFTER = 5  # seconds a client is told to wait while the database is unreachable (about one restart)
BUSY_RETRY_AFTER = 1  # seconds after a statement-level temporary failure (busy SQLite file, deadlock)
CONNECT_TIMEOUT = 5  # seconds to open a PostgreSQL connection: an unreachable server fails fast, never hangs
POSTGRES_CONNECT_ARGS: dict[str, Any] = {
    "connect_timeout": CONNECT_TIMEOUT,
    "keepalives": 1,  # a peer that vanished without closing (network cut) is noticed in about a minute
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
}
# SQLSTATEs of a server that is going or not there yet: connection exceptions (class 08), admin and crash
# shutdown (a stop or restart terminating sessions), and "the database system is starting up / shutting down".
CONNECTION_SQLSTATES = ("08", "57P01", "57P02", "57P03")
SQLITE_UNAVAILABLE = ("SQLITE_CANTOPEN", "SQLITE_IOERR")  # the file cannot be opened or read at all


def normalize_url(url: str) -> str:
    """Use psycopg 3 for PostgreSQL URLs written without a driver."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def _tune_sqlite(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA cache_size=-8192")  # 8 MiB per pooled connection keeps the server small
    cursor.close()


def postgres_connect_args(url: str) -> dict[str, Any]:
    """The bounded-connection defaults, except where the URL's query sets its own value."""
    query = make_url(url).query
    return {key: value for key, value in POSTGRES_CONNECT_ARGS.items() if key not in query}


def make_engine(url: str) -> Engine:
    """An engine tuned for its backend: WAL SQLite for the embedded lake, pooled psycopg for PostgreSQL."""
    url = normalize_url(url)
    if url.startswith("sqlite"):
        database = make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False}, pool_size=8, max_overflow=8)
        event.listen(engine, "connect", _tune_sqlite)
        return engine
    return create_engine(
        url,
        pool_size=8,
        max_overflow=8,
        pool_recycle=1800,
        pool_pre_ping=True,
        connect_args=postgres_connect_args(url),
    )


def make_unpooled_engine(url: str) -> Engine:
    """An engine that opens a fresh connection each time (migrations, one-shot tools)."""
    url = normalize_url(url)
    connect_args = {} if url.startswith("sqlite") else postgres_connect_args(url)
    return create_engine(url, poolclass=NullPool, connect_args=connect_args)


def is_unavailable(exc: BaseException) -> bool:
    """Whether a database error means the server cannot be reached (down, restarting, connection lost), as
    opposed to one statement failing (a constraint, a deadlock, a busy SQLite file)."""
    if isinstance(exc, DisconnectionError):
        return True
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated:  # the dialect saw the connection die under a statement
        return True
    orig = exc.orig
    if isinstance(orig, psycopg.OperationalError):  # no SQLSTATE: the client side failed (connect, socket)
        return orig.sqlstate is None or orig.sqlstate.startswith(CONNECTION_SQLSTATES)
    if isinstance(orig, sqlite3.OperationalError):
        return str(getattr(orig, "sqlite_errorname", "")).startswith(SQLITE_UNAVAILABLE)
    return False


def unavailable() -> DatabaseUnavailable:
    """What callers see instead of the driver's error; its details (host, port) stay in the server's log."""
    return DatabaseUnavailable(
        f"the catalog database is unavailable; retry in {RETRY_AFTER} s", retry_after=RETRY_AFTER
    )


def database_error(exc: BaseException) -> LakeError | None:
    """The Lake error a raw SQLAlchemy error stands for (for code using an engine directly): unavailable,
    a retryable statement failure (OperationalError: busy, deadlock), or None (a bug: an internal error)."""
    if is_unavailable(exc):
        return unavailable()
    if isinstance(exc, OperationalError):
        name = type(exc.orig).__name__
        message = f"the database could not complete the request ({name}); nothing was changed, retry"
        return TemporaryFailure(message, retry_after=BUSY_RETRY_AFTER)
    return None


def _cause(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    return f"{type(orig).__name__}: {' '.join(str(orig).split())}"


class Database:
    """The catalog database: hands out one transaction per unit of work."""

    def __init__(self, url: str) -> None:
        self.url = normalize_url(url)
        self.engine = make_engine(self.url)
        self._down_since: float | None = None  # monotonic time the current outage was first seen

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        with self._guarded(), self.engine.begin() as conn:
            yield conn

    @contextmanager
    def streaming(self) -> Iterator[Connection]:
        """A read-only connection for server-side cursors (large listings in constant memory)."""
        with self._guarded(), self.engine.connect() as conn:
            yield conn.execution_options(stream_results=True, yield_per=2000)

    def translate(self, exc: BaseException) -> LakeError | None:
        """`database_error` for a raw driver error raised outside `transaction`/`streaming` (streamed listings
        use a connection of their own), with an outage logged as `transaction` logs it."""
        error = database_error(exc)
        if isinstance(error, DatabaseUnavailable):
            self._went_away(exc)
        return error

    @contextmanager
    def _guarded(self) -> Iterator[None]:
        """Connection-level failures (connect, statement or commit) become DatabaseUnavailable; the start and
        the end of an outage are logged once each, not once per failed unit of work."""
        try:
            yield
        except (DBAPIError, DisconnectionError) as exc:
            if not is_unavailable(exc):
                raise
            self._went_away(exc)
            raise unavailable() from exc
        if self._down_since is not None:
            self._came_back()

    def _went_away(self, exc: BaseException) -> None:
        if self._down_since is None:
            self._down_since = time.monotonic()
            log.warning("the catalog database is unavailable (%s); answering 503 until it returns", _cause(exc))
        else:
            log.debug("the catalog database is still unavailable (%s)", _cause(exc))

    def _came_back(self) -> None:
        since, self._down_since = self._down_since, None
        if since is not None:
            log.info("the catalog database is available again after %.1f s", time.monotonic() - since)

    def dispose(self) -> None:
        self.engine.dispose()
