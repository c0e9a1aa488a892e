"""Trending and the other sorts, pinned with numbers: the formula of dailypapers/rank/trending.py

    points   = upvotes + min(comments, 10)
    trending = log10(max(points, 1)) + hours_since_1970_when_featured / 48

(defaults: DAILYPAPERS_TRENDING_TAU_HOURS=48, DAILYPAPERS_TRENDING_COMMENT_CAP=10), stored per
feature day, and the orders it gives on pages and in the API, within a day and across days.
Expected values below were computed from that formula by hand, not read back from the code
under test."""

from __future__ import annotations

import datetime as dt
import math

import lxml.html
import pytest
import sqlalchemy as sa

from dailypapers import catalog
from dailypapers.db.schema import feature_days
from dailypapers.ingest import hf_daily
from dailypapers.rank.trending import TrendingParams, featured_at, trending_score
from tests.helpers import hf_item, store

UTC = dt.timezone.utc
T0 = dt.datetime(2026, 3, 9, 0, 0, tzinfo=UTC)  # 493,224 hours after 1970-01-01
DEFAULTS = TrendingParams()


@pytest.mark.parametrize(
    ("upvotes", "comments", "hours", "expected"),
    [
        (10, 0, 0, 1 + 492504 / 48),            # 10261.5
        (100, 0, 0, 2 + 492504 / 48),           # ten times the votes: one more
        (10, 0, 48, 1 + (492504 + 48) / 48),    # 48 h later: one more, like 10x the votes
        (10, 0, 12, 1 + (492504 + 12) / 48),    # 12 h later: +0.25, i.e. 10^0.25 = 1.78x votes
        (0, 0, 0, 0 + 492504 / 48),             # no points: log10(max(0, 1)) = 0
        (1, 0, 0, 0 + 492504 / 48),             # one point: also 0
        (-3, 0, 0, 0 + 492504 / 48),            # negative upvotes count as none
        (5, 3, 0, math.log10(8) + 492504 / 48),   # comments add points...
        (5, 50, 0, math.log10(15) + 492504 / 48),  # ...up to 10
    ],
)
def test_trending_score_is_the_documented_formula(upvotes: int, comments: int, hours: float,
                                                  expected: float) -> None:
    """Fails if tau, the log base, the clamp of points or the comment cap changes, or if the
    time featured is ignored (the 0 h, 12 h and 48 h rows would be equal)."""
    got = trending_score(upvotes, comments, T0 + dt.timedelta(hours=hours), DEFAULTS)
    assert got == pytest.approx(expected, rel=1e-15, abs=1e-9)
    assert trending_score(10, 0, T0, DEFAULTS) == pytest.approx(10261.5, abs=1e-9)


def test_trending_constants_are_settings() -> None:
    """Fails if tau or the cap are ignored: tau 24 h doubles the time term; cap 0 drops
    comments."""
    params = TrendingParams(tau_hours=24.0, comment_cap=0)
    assert trending_score(10, 7, T0, params) == pytest.approx(1 + 492504 / 24, abs=1e-9)


def test_featured_at_uses_the_upstream_time_else_midnight_utc() -> None:
    """Fails if the daily-list timestamp is ignored, a naive stamp is not read as UTC, or a
    missing/garbled stamp does not fall back to midnight UTC of the feature day."""
    day = dt.date(2026, 3, 2)
    half_past_eight = dt.datetime(2026, 3, 2, 8, 30, tzinfo=UTC)
    assert featured_at(day, "2026-03-02T08:30:00.000Z") == half_past_eight
    assert featured_at(day, "2026-03-02T08:30:00") == half_past_eight
    assert featured_at(day, "2026-03-02T10:30:00+02:00") == half_past_eight
    for missing in (None, "", "not a time"):
        assert featured_at(day, missing) == dt.datetime(2026, 3, 2, tzinfo=UTC)


def test_the_stored_order_across_days_weighs_votes_against_age(client, engine) -> None:
    """Fails if age is ignored (the order would follow upvotes: old, mid, new) or counts too
    little. Featured at midnight, 0 comments: old 1000 votes on 03-03 = 3 + H/48, mid 100 on
    03-07 = 2 + (H+96)/48 = 4 + H/48, new 9 on 03-09 = log10(9) + (H+144)/48 = 3.9542 + H/48,
    where H is 03-03's hours since 1970: mid, new, old (upvotes alone: old, mid, new)."""
    for pid, votes, day in (("2603.40001", 1000, "2026-03-03"), ("2603.40002", 100, "2026-03-07"),
                            ("2603.40003", 9, "2026-03-09")):
        items = [hf_item(pid, upvotes=votes, day=day, submittedOnDailyAt=f"{day}T00:00:00Z")]
        items[0]["numComments"] = 0
        store(engine, list(hf_daily.parse_items(items, day=dt.date.fromisoformat(day))))
    body = client.get("/api/daily_papers", params={"month": "2026-03", "sort": "trending"}).json()
    assert [i["paper"]["id"] for i in body] == ["2603.40002", "2603.40003", "2603.40001"]
    with engine.connect() as conn:
        rows = conn.execute(sa.select(feature_days.c.paper_id, feature_days.c.trending_score))
        scores = {pid: score for pid, score in rows}
    h = (dt.datetime(2026, 3, 3, tzinfo=UTC) - dt.datetime(1970, 1, 1, tzinfo=UTC)).days * 24
    assert scores["2603.40001"] == pytest.approx(3 + h / 48, abs=1e-9)
    assert scores["2603.40002"] == pytest.approx(4 + h / 48, abs=1e-9)
    assert scores["2603.40003"] == pytest.approx(math.log10(9) + 3 + h / 48, abs=1e-9)


def _entry(pid: str, upvotes: int, day: dt.date, score: float) -> catalog.Entry:
    return catalog.Entry({"id": pid, "upvotes": upvotes},
                         {"day": day, "submitted_on_daily_at": None, "trending_score": score})


def test_sort_entries_ties_are_broken_by_id() -> None:
    """Fails if equal scores are ordered differently (by id descending)."""
    day = dt.date(2026, 3, 9)
    entries = [_entry("b", 4, day, 7.5), _entry("a", 4, day, 7.5)]
    assert [e.paper["id"] for e in catalog.sort_entries(entries, "trending")] == ["a", "b"]
    assert [e.paper["id"] for e in catalog.sort_entries(entries, "upvotes")] == ["a", "b"]
    assert [e.paper["id"] for e in catalog.sort_entries(entries, "newest")] == ["b", "a"]


# --- one day on the pages and the API ----------------------------------------------------------
# 2026-03-02: A 5 votes at 08:00, B 9 at 10:00, C 5 at 12:00, D 1 at 14:00 (all UTC), 2 comments
# each. Points 7, 11, 7, 3; with H = hours from 1970 to 03-02 00:00, scores are
# A log10(7) + (H+8)/48 = 0.8451 + 0.1667, B log10(11) + (H+10)/48 = 1.0414 + 0.2083,
# C 0.8451 + 0.2500, D log10(3) + (H+14)/48 = 0.4771 + 0.2917 (each + H/48): B 1.2497,
# C 1.0951, A 1.0118, D 0.7688: trending B, C, A, D; upvotes puts A before C (ties: earlier
# featured first); newest is D, C, B, A.
DAY = "2026-03-02"
ONE_DAY = {"2603.10001": (5, "08:00"), "2603.10002": (9, "10:00"),
           "2603.10003": (5, "12:00"), "2603.10004": (1, "14:00")}
A, B, C, D = ONE_DAY
ORDERS = {"trending": [B, C, A, D], "upvotes": [B, A, C, D], "newest": [D, C, B, A]}


def _load(engine, papers: dict[str, tuple[int, str]], day: str = DAY) -> None:
    items = [hf_item(pid, title=f"Paper {pid}", upvotes=votes, day=day,
                     submittedOnDailyAt=f"{day}T{clock}:00.000Z")
             for pid, (votes, clock) in papers.items()]
    store(engine, list(hf_daily.parse_items(items, day=dt.date.fromisoformat(day))))


def _card_ids(html: str) -> list[str]:
    return [c.get("data-paper-id") for c in lxml.html.fromstring(html).cssselect("article.card")]


@pytest.mark.parametrize("sort", ["trending", "upvotes", "newest"])
def test_day_page_orders(client, engine, sort: str) -> None:
    """Fails if ``?sort=`` on a day page, a week page or a month page is ignored or orders
    differently from its definition (see ORDERS)."""
    _load(engine, ONE_DAY)
    for path in (f"/papers/date/{DAY}", "/papers/week/2026-W10", "/papers/month/2026-03"):
        response = client.get(path, params={"sort": sort})
        assert response.status_code == 200
        assert _card_ids(response.text) == ORDERS[sort], path
    assert _card_ids(client.get(f"/papers/date/{DAY}").text) == ORDERS["trending"]  # default


@pytest.mark.parametrize(("api_sort", "sort"), [("trending", "trending"), ("upvotes", "upvotes"),
                                                ("publishedAt", "newest")])
def test_daily_papers_api_orders(client, engine, api_sort: str, sort: str) -> None:
    """Fails if ``sort=`` of /api/daily_papers is ignored or maps to the wrong order, with a
    date, a week, or no period (latest days)."""
    _load(engine, ONE_DAY)
    for params in ({"date": DAY}, {"week": "2026-W10"}, {}):
        body = client.get("/api/daily_papers", params={**params, "sort": api_sort}).json()
        assert [item["paper"]["id"] for item in body] == ORDERS[sort], params


def test_daily_papers_without_sort_is_newest_first(client, engine) -> None:
    """Fails if the API's default order (publishedAt, Hugging Face's) changes."""
    _load(engine, ONE_DAY)
    body = client.get("/api/daily_papers", params={"date": DAY}).json()
    assert [item["paper"]["id"] for item in body] == ORDERS["newest"]


# --- across days, at the real clock ----------------------------------------------------------


def test_trending_api_decays_across_recent_days(client, engine) -> None:
    """Fails if trending across days ignores age. Featured at midnight UTC, 2 comments each:
    "old" 6 days ago with 30 votes, "new" 1 day ago with 5. new − old = log10(7/32) + 120/48 =
    −0.66 + 2.5 = 1.84 > 0: new first; by upvotes old."""
    today = dt.datetime.now(UTC).date()
    old, new = today - dt.timedelta(days=6), today - dt.timedelta(days=1)
    _load(engine, {"2603.20001": (30, "00:00")}, day=old.isoformat())
    _load(engine, {"2603.20002": (5, "00:00")}, day=new.isoformat())
    trending = client.get("/api/daily_papers", params={"sort": "trending"}).json()
    assert [i["paper"]["id"] for i in trending] == ["2603.20002", "2603.20001"]
    upvotes = client.get("/api/daily_papers", params={"sort": "upvotes"}).json()
    assert [i["paper"]["id"] for i in upvotes][:2] == ["2603.20001", "2603.20002"]


def test_trending_api_ranks_only_the_last_seven_featured_days(client, engine) -> None:
    """Fails if the no-period trending list reaches back more than 7 featured days: a paper 7
    featured days back (the 8th day) with a million votes would otherwise lead."""
    today = dt.datetime.now(UTC).date()
    for back in range(8):
        day = (today - dt.timedelta(days=back)).isoformat()
        votes = 1_000_000 if back == 7 else back
        _load(engine, {f"2603.3000{back}": (votes, "00:00")}, day=day)
    body = client.get("/api/daily_papers", params={"sort": "trending", "limit": 100}).json()
    ids = [i["paper"]["id"] for i in body]
    assert len(ids) == 7 and "2603.30007" not in ids
