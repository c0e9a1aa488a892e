"""Keeping stored trending scores (``feature_days.trending_score``) equal to their formula.

Writers call :func:`refresh_scores` for the papers whose inputs they changed, in their own
transaction (a vote, an import that changed upvotes or comments); `dailypapers db recount` calls
:func:`recount`, which rebuilds every cache from rows and says what it fixed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from dailypapers.db.engine import db_now
from dailypapers.db.schema import feature_days, papers, votes
from dailypapers.rank.trending import TrendingParams, featured_at, trending_score

_CHUNK = 500


def _score_rows(conn: Connection, where: sa.ColumnElement[bool] | None) -> list[sa.Row]:
    query = (
        sa.select(feature_days.c.id, feature_days.c.day, feature_days.c.submitted_on_daily_at,
                  feature_days.c.trending_score, papers.c.upvotes, papers.c.local_upvotes,
                  papers.c.num_comments)
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
    ``num_comments``, ``day``, ``submitted_on_daily_at``)."""
    return trending_score(row.upvotes + row.local_upvotes, row.num_comments,
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
    scores_fixed: int = 0

    @property
    def drift(self) -> bool:
        return bool(self.vote_drift_total or self.scores_fixed)


def recount(conn: Connection, params: TrendingParams, *, show: int = 20) -> RecountReport:
    """Rebuild papers.local_upvotes from the votes table, then every stored trending score."""
    if conn.dialect.name == "postgresql":
        # Votes committed while we count would be missed by the rewrite: hold them off (SHARE
        # blocks writers of votes, not readers). SQLite's write transaction already excludes them.
        conn.exec_driver_sql("LOCK TABLE votes IN SHARE MODE")
    report = RecountReport()
    counted = (sa.select(sa.func.count()).select_from(votes)
               .where(votes.c.paper_id == papers.c.id).scalar_subquery())
    drift = conn.execute(
        sa.select(papers.c.id, papers.c.local_upvotes, counted.label("actual"))
        .where(papers.c.local_upvotes != counted).order_by(papers.c.id)
    ).all()
    if drift:
        conn.execute(
            papers.update().where(papers.c.id == sa.bindparam("b_id"))
            .values(local_upvotes=sa.bindparam("b_actual"), counts_updated_at=db_now(conn)),
            [{"b_id": pid, "b_actual": actual} for pid, _cached, actual in drift],
        )
    report.vote_drift = [(pid, cached, actual) for pid, cached, actual in drift[:show]]
    report.vote_drift_total = len(drift)
    report.papers = conn.execute(sa.select(sa.func.count()).select_from(papers)).scalar_one()
    rows = _score_rows(conn, None)
    report.feature_days = len(rows)
    for start in range(0, len(rows), _CHUNK):
        report.scores_fixed += _rewrite(conn, rows[start:start + _CHUNK], params)
    return report
