"""The PostgreSQL pool without a ping per checkout: a connection the server ended is found
(tested after idling, or retried once by the vote routes), never handed on to fail again.

The server ends a pooled connection with ``pg_terminate_backend``, as a restart would.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from dailypapers.db.engine import make_engine, retry_on_disconnect
from dailypapers.settings import Settings
from tests.conftest import empty_postgres


@pytest.fixture
def pg_url(postgres_url: str) -> str:
    """PostgreSQL only (SQLite has no pool to speak of), emptied as conftest's db_url does."""
    empty_postgres(postgres_url)
    return postgres_url


def _backend_pid(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()


def _terminate(url: str, pid: int) -> None:
    other = make_engine(url)
    with other.connect() as conn:
        assert conn.exec_driver_sql(f"SELECT pg_terminate_backend({int(pid)})").scalar_one()
    other.dispose()


def _wait_gone(url: str, pid: int) -> None:
    other = make_engine(url)
    with other.connect() as conn:
        # pg_terminate_backend only signals: wait (no clock) until the backend has left.
        for _ in range(10_000):
            if not conn.exec_driver_sql(
                    f"SELECT count(*) FROM pg_stat_activity WHERE pid = {int(pid)}").scalar_one():
                break
    other.dispose()


def test_a_connection_that_idled_is_tested_and_replaced(pg_url: str) -> None:
    # Any idle time is "long" here: the checkout tests the connection it is handed.
    engine = make_engine(pg_url, pool_size=1, max_overflow=0, ping_after_idle_seconds=1e-9)
    pid = _backend_pid(engine)
    _terminate(pg_url, pid)
    _wait_gone(pg_url, pid)
    assert _backend_pid(engine) != pid  # no error: the dead one was found and replaced
    # The test leaves no transaction open: an AUTOCOMMIT connection (CREATE DATABASE) still works.
    with engine.execution_options(isolation_level="AUTOCOMMIT").connect() as conn:
        assert conn.exec_driver_sql("SHOW transaction_isolation").scalar_one()
        assert conn.connection.dbapi_connection.autocommit
    engine.dispose()


def test_a_busy_connection_is_not_pinged_and_a_dead_one_fails_once(pg_url: str) -> None:
    engine = make_engine(pg_url, pool_size=1, max_overflow=0, ping_after_idle_seconds=1e9)
    pings = []
    sa.event.listen(engine, "before_cursor_execute",
                    lambda *args: pings.append(args[2]) if args[2] == "SELECT 1" else None)
    pid = _backend_pid(engine)
    assert _backend_pid(engine) == pid and pings == []  # reused without a round trip of its own
    _terminate(pg_url, pid)
    _wait_gone(pg_url, pid)
    with pytest.raises(sa.exc.DBAPIError) as failed:
        _backend_pid(engine)
    assert failed.value.connection_invalidated
    assert _backend_pid(engine) != pid  # the pool renewed itself after that one failure
    engine.dispose()


def test_retry_on_disconnect_runs_the_work_again_on_a_fresh_connection(pg_url: str) -> None:
    engine = make_engine(pg_url, pool_size=1, max_overflow=0, ping_after_idle_seconds=1e9)
    pid = _backend_pid(engine)
    _terminate(pg_url, pid)
    _wait_gone(pg_url, pid)
    tries = []

    def work() -> int:
        tries.append(1)
        return _backend_pid(engine)

    assert retry_on_disconnect(work) != pid
    assert len(tries) == 2
    # Other errors are not retried.
    tries.clear()

    def broken() -> None:
        tries.append(1)
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT no_such_column FROM papers")

    with pytest.raises(sa.exc.ProgrammingError):
        retry_on_disconnect(broken)
    assert len(tries) == 1
    engine.dispose()


def test_pool_settings_reach_the_engine(pg_url: str) -> None:
    settings = Settings(database_url=pg_url, db_pool_size=3, db_max_overflow=2,
                        db_ping_after_idle_seconds=0)
    engine = make_engine(pg_url, **settings.engine_options)
    assert (engine.pool.size(), engine.pool._max_overflow, engine.pool._pre_ping) == (3, 2, True)
    engine.dispose()
    with pytest.raises(ValueError, match="db_pool_size"):
        Settings(db_pool_size=0)


def test_a_vote_on_a_dead_connection_is_retried_and_counted_once(pg_url: str, tmp_path) -> None:
    from fastapi.testclient import TestClient

    from dailypapers.web.app import create_app
    from tests.conftest import TEST_SECRET_KEY
    from tests.test_votes import P1, _counts, _load, _no_drift, _users

    settings = Settings(database_url=pg_url, data_dir=tmp_path, secret_key=TEST_SECRET_KEY)

    engine = make_engine(pg_url, pool_size=1, max_overflow=0, ping_after_idle_seconds=1e9)
    _load(engine, {P1: (4, "08:00")})
    (_a, alice), (_b, bob) = _users(engine, 2)
    with TestClient(create_app(settings, engine)) as client:
        def vote(token: str) -> int:
            return client.post(f"/api/v1/papers/{P1}/vote",
                               headers={"Authorization": f"Bearer {token}"}).status_code

        assert vote(alice) == 200
        pid = _backend_pid(engine)  # the pool's one connection, the one the vote used
        _terminate(pg_url, pid)
        _wait_gone(pg_url, pid)
        assert vote(bob) == 200  # failed on the dead connection, then ran again on a new one
    assert _counts(engine, P1) == (4, 2, 2)
    _no_drift(engine)
    engine.dispose()
