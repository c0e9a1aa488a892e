"""Reading the catalogue: featured papers by day, week and month, and single papers.

Services take a connection and only read. Periods are half-open date ranges ``[start, end)``.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from dailypapers.db import data_version
from dailypapers.db.schema import feature_days, ingest_runs, papers, users
from dailypapers.rank.trending import featured_at

SORTS = ("trending", "upvotes", "newest")
# ASCII digits and \Z: `$` also matched before a final newline and \d any script's digits, so
# "2026-03\n" and "٢٠٢٦-03" were months, unlike what the OpenAPI description's patterns say.
_WEEK = re.compile(r"^([0-9]{4})-W([0-9]{2})\Z")
_MONTH = re.compile(r"^([0-9]{4})-([0-9]{2})\Z")
_DAY = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}\Z")
# The days a URL or a search filter may name. Beyond them a period's neighbours overflow
# ``datetime.date`` (year 9999), and the keyword index cannot store them (tantivy's dates are
# nanoseconds in an i64: 1677-09-21 to 2262-04-11).
FIRST_DAY, LAST_DAY = dt.date(1900, 1, 1), dt.date(2199, 12, 31)


class BadPeriod(ValueError):
    """A date, week or month that cannot be read; the message says what was expected."""


@dataclass(frozen=True)
class Period:
    kind: str  # "day" | "week" | "month"
    start: dt.date
    end: dt.date  # exclusive
    label: str

    @property
    def last(self) -> dt.date:
        return self.end - dt.timedelta(days=1)

    def previous(self) -> Period:
        if self.kind == "week":
            return week_period(self.start - dt.timedelta(days=7))
        if self.kind == "month":
            return month_period((self.start - dt.timedelta(days=1)).replace(day=1))
        return day_period(self.start - dt.timedelta(days=1))

    def next(self) -> Period:
        return {"week": week_period, "month": month_period, "day": day_period}[self.kind](self.end)


def day_period(day: dt.date) -> Period:
    return Period("day", day, day + dt.timedelta(days=1), day.isoformat())


def week_period(day: dt.date) -> Period:
    year, week, weekday = day.isocalendar()
    start = day - dt.timedelta(days=weekday - 1)
    return Period("week", start, start + dt.timedelta(days=7), f"{year}-W{week:02d}")


def month_period(day: dt.date) -> Period:
    start = day.replace(day=1)
    days = calendar.monthrange(start.year, start.month)[1]
    return Period("month", start, start + dt.timedelta(days=days), f"{start:%Y-%m}")


def _check_year(kind: str, text: str, year: int) -> None:
    if not FIRST_DAY.year <= year <= LAST_DAY.year:
        raise BadPeriod(f"invalid {kind} {text!r}: only years {FIRST_DAY.year} to {LAST_DAY.year}")


def parse_day(text: str) -> dt.date:
    if not _DAY.match(text or ""):
        raise BadPeriod(f"invalid date {text!r}: expected YYYY-MM-DD")
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        raise BadPeriod(f"invalid date {text!r}: no such day") from None
    _check_year("date", text, day.year)
    return day


def parse_week(text: str) -> Period:
    m = _WEEK.match(text or "")
    if not m:
        raise BadPeriod(f"invalid week {text!r}: expected YYYY-Www, e.g. 2025-W07")
    try:
        monday = dt.date.fromisocalendar(int(m.group(1)), int(m.group(2)), 1)
    except ValueError:
        raise BadPeriod(f"invalid week {text!r}: no such ISO week") from None
    _check_year("week", text, int(m.group(1)))
    return week_period(monday)


def parse_month(text: str) -> Period:
    m = _MONTH.match(text or "")
    if not m or not 1 <= int(m.group(2)) <= 12 or int(m.group(1)) < 1:
        raise BadPeriod(f"invalid month {text!r}: expected YYYY-MM")
    _check_year("month", text, int(m.group(1)))
    return month_period(dt.date(int(m.group(1)), int(m.group(2)), 1))


@dataclass
class Entry:
    """A paper as featured on one day: the paper row and its feature-day row."""

    paper: dict[str, Any]
    feature: dict[str, Any]

    @property
    def featured_at(self) -> dt.datetime:
        return featured_at(self.feature["day"], self.feature["submitted_on_daily_at"])


def _submitter_username() -> sa.ScalarSelect[Any]:
    """A local submitter's name now, by ``submitter_user_id`` (NULL for Hugging Face's, or once
    the account is gone): user-page links follow the account, not the name stored that day."""
    return (sa.select(users.c.username).where(users.c.id == feature_days.c.submitter_user_id)
            .scalar_subquery())


_FEATURE_COLS = [
    feature_days.c.day.label("f_day"),
    feature_days.c.upvotes.label("f_upvotes"),
    feature_days.c.num_comments.label("f_num_comments"),
    feature_days.c.published_at.label("f_published_at"),
    feature_days.c.submitted_on_daily_at.label("f_submitted_on_daily_at"),
    feature_days.c.submitter_name.label("f_submitter_name"),
    feature_days.c.submitter.label("f_submitter"),
    feature_days.c.organization.label("f_organization"),
    feature_days.c.is_author_participating.label("f_is_author_participating"),
    feature_days.c.source.label("f_source"),
    feature_days.c.trending_score.label("f_trending_score"),
    _submitter_username().label("f_submitter_username"),
]
# The one condition that keeps a paper a moderator hid (community/moderation.py) out of every
# list, search result and API answer. Days stay days: a day whose papers are all hidden is still
# a featured day (its page is empty).
VISIBLE_PAPER = papers.c.hidden_at.is_(None)
# What every list shows and sorts by: Hugging Face's count plus ours.
TOTAL_UPVOTES = papers.c.upvotes + papers.c.local_upvotes


def total_upvotes(paper: dict[str, Any]) -> int:
    return int(paper["upvotes"]) + int(paper.get("local_upvotes") or 0)


def total_comments(imported: int, paper: dict[str, Any]) -> int:
    """Hugging Face's comment count plus ours (``local_comments``, once comments are stored)."""
    return int(imported or 0) + int(paper.get("local_comments") or 0)


def _entries(conn: Connection, query: sa.Select) -> list[Entry]:
    out = []
    for row in conn.execute(query).mappings():
        paper = {c.name: row[c.name] for c in papers.columns}
        feature = {k[2:]: row[k] for k in row.keys() if k.startswith("f_")}
        out.append(Entry(paper, feature))
    data_version.note_papers(entry.paper for entry in out)  # web/cache.py: votes they show
    return out


def _base_query() -> sa.Select:
    return (sa.select(papers, *_FEATURE_COLS)
            .join(feature_days, feature_days.c.paper_id == papers.c.id).where(VISIBLE_PAPER))


def sort_entries(entries: list[Entry], sort: str) -> list[Entry]:
    """The orders :func:`entries_in` gives in SQL, for entries already in hand."""
    if sort == "newest":
        return sorted(entries, key=lambda e: (e.featured_at, e.paper["id"]), reverse=True)
    if sort == "upvotes":
        return sorted(entries, key=lambda e: (-total_upvotes(e.paper), e.featured_at,
                                              e.paper["id"]))
    return sorted(entries, key=lambda e: (-e.feature["trending_score"], e.paper["id"]))


def entries_in(
    conn: Connection, start: dt.date, end: dt.date, *, sort: str = "trending",
    submitter: str | None = None, paper_ids: Iterable[str] | None = None,
) -> list[Entry]:
    """The period's entries in ``sort``'s order; with ``paper_ids``, only those papers' (a
    list kept elsewhere reads again the papers a vote changed: web/entries_cache.py)."""
    query = _base_query().where(feature_days.c.day >= start, feature_days.c.day < end)
    if submitter:
        query = query.where(feature_days.c.submitter_name == submitter)
    if paper_ids is not None:
        query = query.where(papers.c.id.in_(sorted(paper_ids)))
    if sort == "trending":  # the stored score, read in the order of its index (day, score)
        return _entries(conn, query.order_by(feature_days.c.trending_score.desc(), papers.c.id))
    return sort_entries(_entries(conn, query), sort)


def latest_entries(
    conn: Connection, *, sort: str, limit: int, offset: int, submitter: str | None = None
) -> list[Entry]:
    """Entries across days, newest feature days first (the API with no date filter)."""
    if sort == "trending":
        # Trending only makes sense among recent papers: rank the last 7 featured days.
        days = select_recent_days(conn, 7, submitter)
        if not days:
            return []
        entries = entries_in(conn, min(days), max(days) + dt.timedelta(days=1), sort="trending",
                             submitter=submitter)
        return entries[offset:offset + limit]
    if sort == "upvotes":  # most upvoted first, as sort_entries orders a period
        order = (TOTAL_UPVOTES.desc(), feature_days.c.day,
                 feature_days.c.submitted_on_daily_at.asc().nulls_first(), papers.c.id)
    else:
        order = (feature_days.c.day.desc(), feature_days.c.submitted_on_daily_at.desc(),
                 TOTAL_UPVOTES.desc(), papers.c.id)
    query = _base_query().order_by(*order)
    if submitter:
        query = query.where(feature_days.c.submitter_name == submitter)
    data_version.note_all_votes()  # a vote may move a paper into or out of this window
    return _entries(conn, query.limit(limit).offset(offset))


TRENDING_DAYS = 7  # /papers/trending ranks the papers of the last 7 featured days


def trending_entries(conn: Connection, days: int = TRENDING_DAYS) -> tuple[list[Entry], list[dt.date]]:
    """The papers of the last ``days`` featured days (days with entries, not calendar days: an
    archive that stopped syncing still has a trending list), ranked by trending, and those days."""
    recent = select_recent_days(conn, days)
    if not recent:
        return [], []
    entries = entries_in(conn, min(recent), max(recent) + dt.timedelta(days=1), sort="trending")
    return entries, sorted(recent)


def select_recent_days(conn: Connection, count: int, submitter: str | None = None) -> list[dt.date]:
    query = sa.select(feature_days.c.day).distinct().order_by(feature_days.c.day.desc()).limit(count)
    if submitter:
        query = query.where(feature_days.c.submitter_name == submitter)
    return list(conn.execute(query).scalars())


def latest_day(conn: Connection) -> dt.date | None:
    return conn.execute(sa.select(sa.func.max(feature_days.c.day))).scalar()


def neighbour_days(conn: Connection, day: dt.date) -> tuple[dt.date | None, dt.date | None]:
    """The nearest featured days before and after ``day`` (empty days are skipped)."""
    before = conn.execute(
        sa.select(sa.func.max(feature_days.c.day)).where(feature_days.c.day < day)
    ).scalar()
    after = conn.execute(
        sa.select(sa.func.min(feature_days.c.day)).where(feature_days.c.day > day)
    ).scalar()
    return before, after


def period_has_entries(conn: Connection, period: Period) -> bool:
    return conn.execute(
        sa.select(feature_days.c.id)
        .where(feature_days.c.day >= period.start, feature_days.c.day < period.end)
        .limit(1)
    ).first() is not None


def get_paper(conn: Connection, paper_id: str, *, include_hidden: bool = False
              ) -> dict[str, Any] | None:
    """One paper; a hidden one only with ``include_hidden`` (its page, for a moderator)."""
    query = sa.select(papers).where(papers.c.id == paper_id)
    if not include_hidden:
        query = query.where(VISIBLE_PAPER)
    row = conn.execute(query).mappings().first()
    if row:
        data_version.note_papers([row])
    return dict(row) if row else None


def features_of(conn: Connection, paper_id: str) -> list[dict[str, Any]]:
    rows = conn.execute(
        sa.select(feature_days, _submitter_username().label("submitter_username"))
        .where(feature_days.c.paper_id == paper_id)
        .order_by(feature_days.c.day.desc())
    ).mappings()
    return [dict(r) for r in rows]


def last_updated(conn: Connection) -> dt.datetime | None:
    """When data last changed: the end of the newest successful ingest run that stored or
    changed a record (a sync that found nothing new moves no data version, so no cached page may
    show its end)."""
    stamp = conn.execute(
        sa.select(sa.func.max(ingest_runs.c.finished_at))
        .where(ingest_runs.c.status == "ok", ingest_runs.c.inserted + ingest_runs.c.updated > 0)
    ).scalar()
    if stamp is not None and stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=dt.timezone.utc)
    return stamp


def counts(conn: Connection) -> dict[str, int]:
    return {
        "papers": conn.execute(sa.select(sa.func.count()).select_from(papers)).scalar() or 0,
        "feature_days": conn.execute(
            sa.select(sa.func.count()).select_from(feature_days)
        ).scalar() or 0,
    }


def papers_by_ids(conn: Connection, ids: list[str], *, shows_votes: bool = True
                  ) -> dict[str, dict[str, Any]]:
    """The visible papers of ``ids``. ``shows_votes=False``: the caller shows none of their
    counts, so a cached answer made from them needs no remaking when they get a vote."""
    if not ids:
        return {}
    rows = conn.execute(sa.select(papers).where(papers.c.id.in_(ids), VISIBLE_PAPER)).mappings()
    found = {row["id"]: dict(row) for row in rows}
    if shows_votes:
        data_version.note_papers(found.values())
    return found


def hidden_paper_ids(conn: Connection) -> frozenset[str]:
    """Every hidden paper (a moderator's handful): search leaves them out before it ranks and
    counts (index/keyword_query.py), so its pages and totals stay honest."""
    # ORDER BY makes SQLite (3.40, no ANALYZE statistics) walk ix_papers_hidden_at instead of
    # scanning every row: 113 ms -> 0.03 ms on 200,000 papers, 20 hidden (PostgreSQL uses the
    # index either way, 1.7 ms).
    return frozenset(conn.execute(
        sa.select(papers.c.id).where(papers.c.hidden_at.is_not(None))
        .order_by(papers.c.hidden_at)).scalars())


def latest_features(conn: Connection, ids: list[str]) -> dict[str, dict[str, Any]]:
    """Each paper's most recent feature day, for the papers that have one."""
    if not ids:
        return {}
    out: dict[str, dict[str, Any]] = {}
    rows = conn.execute(
        sa.select(feature_days).where(feature_days.c.paper_id.in_(ids))
        .order_by(feature_days.c.day)
    ).mappings()
    for row in rows:
        out[row["paper_id"]] = dict(row)  # ordered by day: the last one wins
    return out


# New-style ids (``2401.12345``) start with a digit, old-style ones (``cs/0112017``) with a
# lowercase archive name: every new-style id sorts below "A", every old-style one above.
_OLD_STYLE_FROM = "A"


def papers_newest_first(conn: Connection, after: str | None, limit: int) -> list[dict[str, Any]]:
    """Every paper, newest first, the ``limit`` after the paper ``after`` (a keyset: papers
    inserted meanwhile never shift a page). New-style ids grow with the month of first submission
    and the number within it, so id order is age order; old-style ids (all before April 2007)
    follow, by archive then number. Both halves are range scans of the primary key."""
    found: list[dict[str, Any]] = []
    if after is None or after < _OLD_STYLE_FROM:
        query = sa.select(papers).where(papers.c.id < (after or _OLD_STYLE_FROM), VISIBLE_PAPER)
        found = [dict(r) for r in conn.execute(
            query.order_by(papers.c.id.desc()).limit(limit)).mappings()]
        after = None
    if len(found) < limit:
        query = sa.select(papers).where(papers.c.id >= _OLD_STYLE_FROM, VISIBLE_PAPER)
        if after is not None:
            query = query.where(papers.c.id < after)
        found += [dict(r) for r in conn.execute(
            query.order_by(papers.c.id.desc()).limit(limit - len(found))).mappings()]
    return found
