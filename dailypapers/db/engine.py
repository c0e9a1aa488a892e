"""Engines and transactions for SQLite (WAL, one writer at a time) and PostgreSQL."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = sa.engine.make_url(url).database
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        _configure_sqlite(engine)
        return engine
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    return sa.create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)


def _configure_sqlite(engine: Engine) -> None:
    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):  # type: ignore[no-untyped-def]
        # Let us emit BEGIN ourselves, so a writer can take the lock up front (BEGIN IMMEDIATE)
        # instead of failing when it upgrades a read transaction.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get("sqlite_immediate", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def db_now(conn: Connection) -> dt.datetime:
    """The clock every stamp that indexes compare comes from, whichever process writes it.

    PostgreSQL: the server's ``clock_timestamp()``, so importers, servers and workers on other
    machines agree without synchronised clocks. SQLite: this machine's clock (the file is local
    to every process that opens it), to the microsecond; SQLite's own CURRENT_TIMESTAMP is only
    to the second, which would order a change and the embedding of its text wrongly.
    """
    if conn.dialect.name == "postgresql":
        return conn.execute(sa.text("SELECT clock_timestamp()")).scalar_one()
    return dt.datetime.now(dt.timezone.utc)


@contextlib.contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """One write transaction: commits on success, rolls back on error."""
    with engine.connect() as conn:
        conn = conn.execution_options(sqlite_immediate=True)
        with conn.begin():
            yield conn


@contextlib.contextmanager
def read_transaction(engine: Engine) -> Iterator[Connection]:
    with engine.connect() as conn:
        with conn.begin():
            yield conn
