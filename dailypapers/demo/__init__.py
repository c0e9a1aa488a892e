"""Bundled sample papers, so a new install shows a populated site at once."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from dailypapers.db.schema import feature_days, papers
from dailypapers.ingest.files import import_paths
from dailypapers.ingest.service import Counts

DEMO_DATA = Path(__file__).resolve().parent / "data"


def load_demo(engine: Engine) -> Counts:
    _run_id, counts = import_paths(engine, [DEMO_DATA], demo=True, source="demo")
    return counts


def is_empty(conn: Connection) -> bool:
    return conn.execute(sa.select(papers.c.id).limit(1)).first() is None


def remove_demo(conn: Connection) -> tuple[int, int]:
    """Delete demo rows and nothing else: a paper that any real import touched is not demo."""
    removed_features = conn.execute(
        feature_days.delete().where(feature_days.c.is_demo.is_(True))
    ).rowcount
    removed_papers = conn.execute(papers.delete().where(papers.c.is_demo.is_(True))).rowcount
    return removed_papers, removed_features
