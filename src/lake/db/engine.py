"""Engines and the unit of work: one transaction per request or daemon iteration."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool


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
    return create_engine(url, pool_size=8, max_overflow=8, pool_recycle=1800)


def make_unpooled_engine(url: str) -> Engine:
    """An engine that opens a fresh connection each time (migrations, one-shot tools)."""
    return create_engine(normalize_url(url), poolclass=NullPool)


class Database:
    """The catalog database: hands out one transaction per unit of work."""

    def __init__(self, url: str) -> None:
        self.url = normalize_url(url)
        self.engine = make_engine(self.url)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            yield conn

    @contextmanager
    def streaming(self) -> Iterator[Connection]:
        """A read-only connection for server-side cursors (large listings in constant memory)."""
        with self.engine.connect() as conn:
            yield conn.execution_options(stream_results=True, yield_per=2000)

    def dispose(self) -> None:
        self.engine.dispose()
