"""Alembic, driven from code: `dailypapers db upgrade` and the service's start-up both call this."""

from __future__ import annotations

import time
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from dailypapers.db.engine import write_transaction

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# pg_advisory_xact_lock's key: any constant no other code locks ("dailypap" in ASCII).
MIGRATION_LOCK_KEY = 0x6461696C79706170
SQLITE_LOCKED_ATTEMPTS = 5


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(engine: sa.Engine, revision: str = "head") -> None:
    """Upgrade the schema; when that reached the head, rebuild every count cache and stored
    trending score from rows in the same transaction. Migrations never call that code themselves:
    rank/stored.py reads today's columns, which a migration in the middle of the chain lacks.

    SQLite: a brand-new file that two processes open at once can answer "database is locked"
    without waiting (its switch to WAL wants the file to itself; seen once in a test run of two
    processes migrating one new file on a loaded machine): the whole upgrade, rolled back, is
    tried again a few times."""
    for attempt in range(SQLITE_LOCKED_ATTEMPTS):
        try:
            _upgrade(engine, revision)
            return
        except sa.exc.OperationalError as exc:
            if (engine.dialect.name != "sqlite" or "database is locked" not in str(exc)
                    or attempt == SQLITE_LOCKED_ATTEMPTS - 1):
                raise
            time.sleep(0.2 * (attempt + 1))


def _upgrade(engine: sa.Engine, revision: str) -> None:
    if revision == "head" and current_revision(engine) == head_revision():
        return  # every start of every command comes here: no lock when there is nothing to do
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    # Several processes starting at once (a deploy: web, worker and scheduler) would each find
    # no alembic_version and create the tables; all but one would fail on a duplicate. One at a
    # time instead: the others wait for the lock, then read the revision the first one left
    # (read after the lock) and have nothing to do. SQLite: BEGIN IMMEDIATE takes the file's
    # write lock first (write_transaction); PostgreSQL: an advisory lock, released with the
    # transaction.
    with write_transaction(engine) as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
        before = MigrationContext.configure(conn).get_current_revision()
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
        after = MigrationContext.configure(conn).get_current_revision()
        if after != before and after == head_revision():
            from dailypapers.rank.stored import recount
            from dailypapers.rank.trending import TrendingParams

            recount(conn, TrendingParams())  # default constants; `db recount` applies settings


def current_revision(engine: sa.Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
