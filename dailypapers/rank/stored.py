"""Keeping stored trending scores (``feature_days.trending_score``) equal to their formula.

Writers call :func:`refresh_scores` for the papers whose inputs they changed, in their own
transaction (a vote, a comment, an import that changed upvotes or comments); `dailypapers db recount` calls
:func:`recount`, which rebuilds every cache from rows and says what it fixed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from dailypapers.db.engine import db_now
from dailypapers.db.schema import comment_votes, comments, feature_days, papers, votes
from dailypapers.rank.trending import TrendingParams, featured_at, trending_score

_CHUNK = 500


def counted_comment() -> sa.ColumnElement[bool]:
    """Which comment rows papers.local_comments counts: every one neither deleted nor hidden by a
    moderator. (Both keep their place in the thread, as "[deleted]" or "[removed by a
    moderator]", but are no longer comments anyone reads; community/comments.set_hidden moves
    the cache in the hiding transaction.)"""
    return sa.and_(comments.c.deleted_at.is_(None), comments.c.hidden_at.is_(None))


def _score_rows(conn: Connection, where: sa.ColumnElement[bool] | None) -> list[sa.Row]:
    query = (
        sa.select(feature_days.c.id, feature_days.c.day, feature_days.c.submitted_on_daily_at,
                  feature_days.c.trending_score, papers.c.upvotes, papers.c.local_upvotes,
                  papers.c.num_comments, papers.c.local_comments)
        .join(papers, papers.c.id == feature_days.c.paper_id)
    )
    if where is not None:
        query = query.where(where)
        if conn.dialect.name == "postgresql":
            # Lock the papers first, as a vote does (its counter UPDATE): a vote committing
            # between this read and our write would otherwise leave a score a vote behind.
            # NO KEY UPDATE, the UPDATE's own lock: plain FOR UPDATE also waits for the KEY
            # SHARE locks that racing votes' foreign keys hold on the paper (measured: deadlocks).
            query = query.with_for_update(of=papers, key_share=True)
    return list(conn.execute(query))


def score_of(row: Any, params: TrendingParams) -> float:
    """The score of a feature day from a row with its inputs (``upvotes``, ``local_upvotes``,
    ``num_comments``, ``local_comments``, ``day``, ``submitted_on_daily_at``)."""
    return trending_score(row.upvotes + row.local_upvotes, row.num_comments + row.local_comments,
                          featured_at(row.day, row.submitted_on_daily_at), params)


def _rewrite(conn: Connection, rows: list[sa.Row], params: TrendingParams) -> int:
    changes = []
    for row in rows:
        score = score_of(row, params)
        if score != row.trending_score:
            changes.append({"b_id": row.id, "b_score": score})
    if changes:
        conn.execute(
            feature_days.update().where(feature_days.c.id == sa.bindparam("b_id"))
            .values(trending_score=sa.bindparam("b_score")),
            changes,
        )
    return len(changes)


def refresh_scores(conn: Connection, paper_ids: Iterable[str], params: TrendingParams) -> int:
    """Recompute the stored score of every feature day of these papers; returns rows changed."""
    ids = list(dict.fromkeys(paper_ids))
    changed = 0
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start:start + _CHUNK]
        changed += _rewrite(conn, _score_rows(conn, feature_days.c.paper_id.in_(chunk)), params)
    return changed


@dataclasses.dataclass
class RecountReport:
    """What `db recount` found different from the rows, and fixed."""

    papers: int = 0
    feature_days: int = 0
    # (paper id, cached local_upvotes, COUNT(*) of its votes), first few only
    vote_drift: list[tuple[str, int, int]] = dataclasses.field(default_factory=list)
    vote_drift_total: int = 0
    # (paper id, cached local_comments, COUNT(*) of its counted comments), first few only
    comment_drift: list[tuple[str, int, int]] = dataclasses.field(default_factory=list)
    comment_drift_total: int = 0
    comment_votes_fixed: int = 0  # comments whose cached upvotes were wrong
    scores_fixed: int = 0

    @property
    def drift(self) -> bool:
        return bool(self.vote_drift_total or self.comment_drift_total
                    or self.comment_votes_fixed or self.scores_fixed)


def _fix_cache(conn: Connection, table: sa.Table, column: str,
               counted: sa.ScalarSelect, stamp: bool) -> list[sa.Row]:
    """Set ``table.column`` to ``counted`` where they differ: [(id, cached, actual)]."""
    cached = table.c[column]
    drift = conn.execute(
        sa.select(table.c.id, cached, counted.label("actual"))
        .where(cached != counted).order_by(table.c.id)
    ).all()
    if drift:
        values = {column: sa.bindparam("b_actual")}
        if stamp:
            values["counts_updated_at"] = db_now(conn)
        conn.execute(table.update().where(table.c.id == sa.bindparam("b_id")).values(**values),
                     [{"b_id": key, "b_actual": actual} for key, _cached, actual in drift])
    return drift


def recount(conn: Connection, params: TrendingParams, *, show: int = 20) -> RecountReport:
    """Rebuild papers.local_upvotes from the votes table, papers.local_comments from the
    comments, comments.upvotes from comment_votes, then every stored trending score."""
    if conn.dialect.name == "postgresql":
        # Rows committed while we count would be missed by the rewrite: hold their writers off
        # (SHARE blocks writers, not readers). SQLite's write transaction already excludes them.
        conn.exec_driver_sql("LOCK TABLE votes, comments, comment_votes IN SHARE MODE")
    report = RecountReport()
    counted = (sa.select(sa.func.count()).select_from(votes)
               .where(votes.c.paper_id == papers.c.id).scalar_subquery())
    drift = _fix_cache(conn, papers, "local_upvotes", counted, stamp=True)
    report.vote_drift = [(pid, cached, actual) for pid, cached, actual in drift[:show]]
    report.vote_drift_total = len(drift)
    counted = (sa.select(sa.func.count()).select_from(comments)
               .where(comments.c.paper_id == papers.c.id, counted_comment()).scalar_subquery())
    drift = _fix_cache(conn, papers, "local_comments", counted, stamp=True)
    report.comment_drift = [(pid, cached, actual) for pid, cached, actual in drift[:show]]
    report.comment_drift_total = len(drift)
    counted = (sa.select(sa.func.count()).select_from(comment_votes)
               .where(comment_votes.c.comment_id == comments.c.id).scalar_subquery())
    report.comment_votes_fixed = len(_fix_cache(conn, comments, "upvotes", counted, stamp=False))
    report.papers = conn.execute(sa.select(sa.func.count()).select_from(papers)).scalar_one()
    rows = _score_rows(conn, None)
    report.feature_days = len(rows)
    for start in range(0, len(rows), _CHUNK):
        report.scores_fixed += _rewrite(conn, rows[start:start + _CHUNK], params)
    return report
