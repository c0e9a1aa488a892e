"""Trending, in one formula anyone can read.

    trending = (upvotes + 1) / (hours_since_featured + 2) ** GRAVITY

This is Hacker News' shape: votes pull a paper up, time pulls it down, and the +2 keeps a paper
featured a minute ago from dividing by nearly zero. Until our own votes exist, ``upvotes`` is the
count imported from Hugging Face; "featured" is when the paper entered the daily list
(``submittedOnDailyAt``, or midnight UTC of its feature day when the upstream gives no time).
Within one past day every paper has nearly the same age, so trending there orders by upvotes;
among equal upvotes the later-featured (younger) paper ranks first, as the formula says.
"""

from __future__ import annotations

import datetime as dt

GRAVITY = 1.8


def trending_score(upvotes: int, featured_at: dt.datetime, now: dt.datetime) -> float:
    hours = max(0.0, (now - featured_at).total_seconds() / 3600.0)
    return (max(upvotes, 0) + 1) / (hours + 2.0) ** GRAVITY


def featured_at(day: dt.date, submitted_on_daily_at: str | None) -> dt.datetime:
    """When a paper was featured: the upstream's timestamp, else midnight UTC of its day."""
    if submitted_on_daily_at:
        try:
            stamp = dt.datetime.fromisoformat(submitted_on_daily_at.replace("Z", "+00:00"))
            return stamp if stamp.tzinfo else stamp.replace(tzinfo=dt.timezone.utc)
        except ValueError:
            pass
    return dt.datetime.combine(day, dt.time(0, 0), tzinfo=dt.timezone.utc)
