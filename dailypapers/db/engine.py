"""Engines and transactions for SQLite (WAL, one writer at a time) and PostgreSQL."""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from dailypapers.db import data_version
from dailypapers.db.jsoncodec import loads_json

T = TypeVar("T")

# PostgreSQL connections are replaced after this long, before a server's or a firewall's idle
# timeout ends them under us.
POOL_RECYCLE_SECONDS = 1800


def make_engine(url: str, *, pool_size: int = 20, max_overflow: int = 10,
                ping_after_idle_seconds: float = 10.0, connect_timeout: float = 5.0,
                pool_timeout: float = 10.0) -> Engine:
    """An engine for ``url``. On PostgreSQL: ``pool_size`` kept connections plus up to
    ``max_overflow`` more under load (DAILYPAPERS_DB_POOL_SIZE / _MAX_OVERFLOW), and a
    connection idle longer than ``ping_after_idle_seconds`` is tested before use (0: every time,
    as SQLAlchemy's ``pool_pre_ping``). Not on every checkout: that ``SELECT 1`` was one of a
    vote's nine round trips, and a connection in steady use is known to be alive. One that died
    within the window fails its request once and the pool is renewed (the vote routes retry it:
    :func:`retry_on_disconnect`).

    A server that does not answer costs at most ``connect_timeout`` seconds per connection
    (libpq's ``connect_timeout``, whole seconds, at least 2), and a request waits at most
    ``pool_timeout`` seconds for a pooled connection: either fails with an error the web app
    answers with a 503 (web/app.py), never a hang."""
    if url.startswith("sqlite"):
        path = sa.engine.make_url(url).database
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": 30},
                                  json_deserializer=loads_json)
        _configure_sqlite(engine)
        return engine
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    engine = sa.create_engine(url, pool_pre_ping=ping_after_idle_seconds <= 0,
                              pool_size=pool_size, max_overflow=max_overflow,
                              pool_recycle=POOL_RECYCLE_SECONDS, pool_timeout=pool_timeout,
                              connect_args={"connect_timeout": max(2, math.ceil(connect_timeout))},
                              json_deserializer=loads_json)
    if ping_after_idle_seconds > 0:
        _ping_after_idle(engine, ping_after_idle_seconds)
    return engine


def _ping_after_idle(engine: Engine, seconds: float) -> None:
    @sa.event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_conn, record) -> None:  # type: ignore[no-untyped-def]
        record.info["idle_since"] = time.monotonic()

    @sa.event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_conn, record, _proxy) -> None:  # type: ignore[no-untyped-def]
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < seconds:
            return
        try:
            engine.dialect.do_ping(dbapi_conn)  # pool_pre_ping's own test (leaves no transaction)
        except Exception as exc:  # noqa: BLE001 - any failure: the pool connects afresh
            # The pool's documented answer: it discards this connection and checks out another.
            raise sa.exc.DisconnectionError(f"connection idle {seconds:.0f}+ s is dead") from exc


def retry_on_disconnect(work: Callable[[], T]) -> T:
    """``work()``, run a second time when its connection turned out dead (the database
    restarted): the pool has renewed itself by then, and the first try's transaction never
    committed. Only for work that is whole in itself (it opens its own transaction)."""
    try:
        return work()
    except sa.exc.DBAPIError as exc:
        if not exc.connection_invalidated:
            raise
    return work()


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
def write_transaction(engine: Engine, *, changes: str | None = "data",
                      wait_for_disk: bool = True) -> Iterator[Connection]:
    """One write transaction: commits on success, rolls back on error. It also moves a data
    version in the same transaction (db/data_version.py), which invalidates the web processes'
    cached anonymous answers: ``changes="votes"`` for paper votes (answers that depend on the
    voted papers only check those), ``None`` for a write no public page or API answer shows.
    The body may find out it changed nothing public after all: ``data_version.unchanged(conn)``.
    ``wait_for_disk=False``: on PostgreSQL the commit returns before its WAL is flushed
    (``synchronous_commit`` off for this transaction only): a server crash may lose it whole,
    never half of it.
    """
    counted = changes is not None
    bumped = False
    with engine.connect() as conn:
        conn = conn.execution_options(sqlite_immediate=True)
        try:
            with conn.begin():
                if not wait_for_disk and conn.dialect.name == "postgresql":
                    conn.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")
                yield conn
                if changes is not None and not data_version.take_unchanged(conn):
                    data_version.bump(conn, changes)  # last: its row is locked only until commit
                    bumped = True
                else:
                    counted = False
        finally:
            voted = data_version.take_voted(conn)
            data_version.take_unchanged(conn)  # never left for the connection's next user
            if bumped and voted and sys.exc_info()[0] is not None:
                # The commit failed, or only seemed to (the connection dropped): had it
                # happened, its notification names this process, whose listener skips it. Log
                # the votes anyway: one that did not happen costs a refresh, one missed could
                # keep an answer with the old count.
                data_version.VOTE_LOG.record(voted)
        if counted:
            data_version.committed_here(voted)  # this process's cache sees it at once


@contextlib.contextmanager
def read_transaction(engine: Engine) -> Iterator[Connection]:
    with engine.connect() as conn:
        with conn.begin():
            yield conn
