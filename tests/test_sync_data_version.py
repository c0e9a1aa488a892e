"""A sync that finds nothing new moves no data version (db/data_version.py), so every web
process keeps its cached anonymous answers (web/cache.py); one that changes a record still does.
Against the fake upstream of tests/test_sync.py, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import sqlalchemy as sa

from dailypapers import catalog
from dailypapers.db import data_version
from dailypapers.db.engine import read_transaction, write_transaction
from dailypapers.db.schema import feature_days
from dailypapers.settings import Settings
from tests.test_sync import cfg, data_dir, fake, sync  # noqa: F401  (fixtures)


def _state(engine: sa.Engine) -> tuple[int, dt.datetime | None]:
    """(data version, "Data last updated")."""
    with read_transaction(engine) as conn:
        return data_version.read(conn)[0], catalog.last_updated(conn)


def test_a_sync_of_the_same_pages_moves_the_data_version_once(
    engine: sa.Engine, cfg: Settings, data_dir: Path  # noqa: F811
) -> None:
    start, never = _state(engine)
    assert never is None
    first = sync(cfg, engine, sources=["hf"])
    stored = first.counts["hf"].inserted
    assert first.ok and stored > 0, first.errors
    version, stamp = _state(engine)
    assert version > start and stamp is not None

    # The same pages again: no page and not the run's ok end changes anything public.
    again = sync(cfg, engine, sources=["hf"])
    counts = again.counts["hf"]
    assert again.ok, again.errors
    assert (counts.inserted, counts.updated, counts.unchanged) == (0, 0, stored)
    assert _state(engine) == (version, stamp)

    # Upstream's count differs from ours: that page and the run's end each count once.
    item = json.loads((data_dir / "hf-daily" / "2026-03-27.json").read_text())[0]
    with write_transaction(engine, changes=None) as conn:
        conn.execute(feature_days.update().where(feature_days.c.paper_id == item["paper"]["id"])
                     .values(upvotes=item["paper"]["upvotes"] + 1000))
    changed = sync(cfg, engine, sources=["hf"])
    assert changed.ok and changed.counts["hf"].updated == 1, changed.errors
    now_version, now_stamp = _state(engine)
    assert now_version == version + 2
    assert now_stamp is not None and now_stamp > stamp
