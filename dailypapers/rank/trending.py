"""Trending, in one formula anyone can read, stored per feature day (``feature_days.trending_score``).

    points   = upvotes (Hugging Face + ours) + min(comments, COMMENT_CAP)
    trending = log10(max(points, 1)) + featured_epoch_hours / TAU_HOURS

The Reddit/Lobsters shape: a paper's score never changes unless its inputs do, yet newer papers
start higher, so sorting by it orders "votes against age" like a decaying formula would, with no
job re-scoring everything as the clock moves. Every TAU_HOURS of recency is worth ten times the
points: with the default 48 h, yesterday's paper needs ~3.2x (10^0.5) the points of today's to
rank level, one featured a week ago ~3,000x (10^3.5). ``featured`` is when the paper entered the
daily list (``submittedOnDailyAt``, or midnight UTC of its feature day when the upstream gives no
time). Comments count as points, but only up to COMMENT_CAP, so a flame war cannot carry a paper.

Why not keep ``(upvotes + 1) / (hours + 2) ** 1.8`` (the Hacker News shape used before): its
value depends on "now", so a stored copy is stale within the hour and every vote, day page and
feed would need a re-score job to order in SQL. Within one day the two differ: the decaying
formula treated every paper of a past day as equally old (pure upvote order), here a paper
featured 12 h later is worth 10^(12/48) = 1.78x the points (see /about/trending).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from typing import Any

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
DEFAULT_TAU_HOURS = 48.0
DEFAULT_COMMENT_CAP = 10


@dataclasses.dataclass(frozen=True)
class TrendingParams:
    """The constants of the formula (DAILYPAPERS_TRENDING_*; `db recount` applies changes)."""

    tau_hours: float = DEFAULT_TAU_HOURS
    comment_cap: int = DEFAULT_COMMENT_CAP

    @classmethod
    def from_settings(cls, settings: Any) -> TrendingParams:
        return cls(tau_hours=settings.trending_tau_hours,
                   comment_cap=settings.trending_comment_cap)

    @classmethod
    def current(cls) -> TrendingParams:
        """The process's configuration (for writers not handed settings, like imports)."""
        from dailypapers.settings import get_settings

        return cls.from_settings(get_settings())


def trending_points(upvotes: int, comments: int, params: TrendingParams) -> int:
    return max(upvotes, 0) + min(max(comments, 0), params.comment_cap)


def trending_score(upvotes: int, comments: int, featured: dt.datetime,
                   params: TrendingParams) -> float:
    points = trending_points(upvotes, comments, params)
    hours = (featured - EPOCH).total_seconds() / 3600.0
    return math.log10(max(points, 1)) + hours / params.tau_hours


def featured_at(day: dt.date, submitted_on_daily_at: str | None) -> dt.datetime:
    """When a paper was featured: the upstream's timestamp, else midnight UTC of its day."""
    if submitted_on_daily_at:
        try:
            stamp = dt.datetime.fromisoformat(submitted_on_daily_at.replace("Z", "+00:00"))
            return stamp if stamp.tzinfo else stamp.replace(tzinfo=dt.timezone.utc)
        except ValueError:
            pass
    return dt.datetime.combine(day, dt.time(0, 0), tzinfo=dt.timezone.utc)
