"""A bulk import refreshes the planner's statistics (PostgreSQL's ANALYZE): without them the
planner guessed most papers were hidden and every search scanned the whole table."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from dailypapers.ingest.files import ANALYZE_AFTER_ROWS, import_paths
from tests.conftest import shared


def analysed(engine: sa.Engine) -> bool:
    with engine.connect() as conn:
        return conn.exec_driver_sql(
            "SELECT last_analyze IS NOT NULL FROM pg_stat_user_tables WHERE relname = 'papers'"
        ).scalar_one()


@pytest.fixture
def pg_engine(engine: sa.Engine) -> sa.Engine:
    if engine.dialect.name != "postgresql":
        pytest.skip("ANALYZE is PostgreSQL's; SQLite gets PRAGMA optimize")
    with engine.connect() as conn:  # start from no manual ANALYZE on record
        conn.exec_driver_sql("SELECT pg_stat_reset()")
    return engine


def test_a_small_import_leaves_statistics_to_autovacuum(pg_engine: sa.Engine) -> None:
    day = sorted(shared("hf-daily").glob("*.json"))[0]
    _run, counts = import_paths(pg_engine, [day])
    assert 0 < counts.inserted < ANALYZE_AFTER_ROWS
    assert not analysed(pg_engine)


def test_a_bulk_import_analyses_what_it_loaded(pg_engine: sa.Engine) -> None:
    page = shared("arxiv", "oai-pmh-cs-2016", "listrecords-001.xml.gz")
    _run, counts = import_paths(pg_engine, [page])
    assert counts.inserted >= ANALYZE_AFTER_ROWS
    assert analysed(pg_engine)
