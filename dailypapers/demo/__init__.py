"""Bundled sample papers, so a new install shows a populated site at once."""

from __future__ import annotations

from dataclasses import dataclass

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


@dataclass(frozen=True)
class CommunityRemoval:
    votes: int
    comments: int
    collection_entries: int


def remove_demo_community(conn: Connection) -> CommunityRemoval:
    """Delete what people added to demo papers (votes, comments with their votes, collection
    entries) before the papers go, so `demo remove` can say how many; the foreign keys would
    cascade, silently. Run it before remove_demo."""
    from dailypapers.community.collections import remove_demo_entries
    from dailypapers.db.schema import comment_votes, comments, votes

    demo = sa.select(papers.c.id).where(papers.c.is_demo.is_(True))
    removed_votes = conn.execute(votes.delete().where(votes.c.paper_id.in_(demo))).rowcount
    on_demo = sa.select(comments.c.id).where(comments.c.paper_id.in_(demo))
    conn.execute(comment_votes.delete().where(comment_votes.c.comment_id.in_(on_demo)))
    # Counted before: SQLite's rowcount leaves out replies its foreign key cascade took first.
    removed_comments = conn.execute(sa.select(sa.func.count()).select_from(comments)
                                    .where(comments.c.paper_id.in_(demo))).scalar_one()
    conn.execute(comments.delete().where(comments.c.paper_id.in_(demo)))
    return CommunityRemoval(removed_votes, removed_comments, remove_demo_entries(conn))
