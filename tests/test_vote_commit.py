"""DAILYPAPERS_VOTE_SYNCHRONOUS_COMMIT=false: on PostgreSQL a vote's transaction commits without
waiting for its WAL flush (``synchronous_commit`` off for that transaction only, db/engine.py's
``write_transaction(wait_for_disk=False)``); every other transaction on the same pooled
connection still waits. SQLite has no such switch and votes as before."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from dailypapers.db.engine import make_engine, write_transaction
from dailypapers.web import routes_votes
from dailypapers.web.app import create_app
from tests.conftest import sqlite_only
from tests.test_db_pool import pg_url  # noqa: F401 - fixture: PostgreSQL only, emptied
from tests.test_response_cache import PAPER, _user, loaded  # noqa: F401 (a fixture)

postgres_only = pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)


def _setting(conn: sa.Connection) -> str:
    return conn.exec_driver_sql("SHOW synchronous_commit").scalar_one()


def test_only_that_transaction_skips_the_wait(pg_url: str) -> None:  # noqa: F811
    engine = make_engine(pg_url, pool_size=1, max_overflow=0)  # one connection, reused
    try:
        with write_transaction(engine, changes=None, wait_for_disk=False) as conn:
            inside = _setting(conn)
            pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
        with write_transaction(engine, changes=None) as conn:
            after = _setting(conn)
            assert conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one() == pid
        with engine.connect() as conn:
            read = _setting(conn)
    finally:
        engine.dispose()
    assert (inside, after, read) == ("off", "on", "on")


def _vote_sees(app, engine, monkeypatch) -> tuple[str, dict]:  # type: ignore[no-untyped-def]
    """The setting inside the vote's transaction, and the vote's answer."""
    seen = []
    vote = routes_votes.vote_by_token

    def noting(conn, *args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(_setting(conn) if conn.dialect.name == "postgresql" else "sqlite")
        return vote(conn, *args, **kwargs)

    monkeypatch.setattr(routes_votes, "vote_by_token", noting)
    _cookie, token = _user(engine)
    with TestClient(app) as web:
        answer = web.post(f"/api/v1/papers/{PAPER}/vote",
                          headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200, answer.text
    [setting] = seen
    return setting, answer.json()


@postgres_only
def test_a_vote_skips_the_wait_when_the_setting_says(loaded, settings, monkeypatch):  # noqa: F811
    app = create_app(settings.model_copy(update={"vote_synchronous_commit": False}), loaded)
    setting, state = _vote_sees(app, loaded, monkeypatch)
    assert setting == "off"
    assert (state["voted"], state["upvotes"]) == (True, 8)
    with loaded.connect() as conn:  # committed, and counted with its row
        assert conn.exec_driver_sql(
            "SELECT count(*) FROM votes").scalar_one() == 1


@postgres_only
def test_a_vote_waits_by_default(loaded, settings, monkeypatch):  # noqa: F811
    assert settings.vote_synchronous_commit is True
    setting, _state = _vote_sees(create_app(settings, loaded), loaded, monkeypatch)
    assert setting == "on"


@sqlite_only
def test_sqlite_votes_with_the_setting_off(loaded, settings, monkeypatch):  # noqa: F811
    app = create_app(settings.model_copy(update={"vote_synchronous_commit": False}), loaded)
    setting, state = _vote_sees(app, loaded, monkeypatch)
    assert setting == "sqlite" and (state["voted"], state["upvotes"]) == (True, 8)
