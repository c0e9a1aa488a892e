"""A request holds one pooled connection at a time. A template helper that opened a transaction
of its own while the page's was checked out (the thumbnails' lookup did) made every page wait on
a second connection: under load the pool ran dry and requests got 503s after the pool timeout
(bench/load.py). A pool of one connection, no overflow, makes any such nesting a 503 here."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from dailypapers.db.engine import make_engine
from dailypapers.ingest.files import import_paths
from dailypapers.web.app import create_app
from tests.conftest import shared


def test_pages_need_one_connection_each(db_url, engine, settings) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite's pool is not the QueuePool whose size this pins")
    day = shared("hf-daily", "2026-03-02.json")
    import_paths(engine, [day])
    one = make_engine(db_url, pool_size=1, max_overflow=0, pool_timeout=2)
    cfg = settings.model_copy(update={"db_pool_size": 1, "db_max_overflow": 0,
                                      "db_pool_timeout_seconds": 2})
    try:
        with TestClient(create_app(cfg, one)) as client:
            listing = client.get("/papers/date/2026-03-02")
            assert listing.status_code == 200, listing.text[:300]
            paper = re.search(r'href="(/papers/\d{4}\.\d{4,5})"', listing.text)
            assert paper is not None
            for path in ["/papers/week/2026-W10", "/papers/month/2026-03", "/papers/trending",
                         paper.group(1), "/api/daily_papers?date=2026-03-02", "/feeds",
                         "/subscribe", "/signup"]:
                answer = client.get(path)
                assert answer.status_code == 200, (path, answer.status_code)
    finally:
        one.dispose()
