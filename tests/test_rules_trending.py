"""Trending and the other sorts, pinned with numbers: the formula of dailypapers/rank/trending.py

    trending = (upvotes + 1) / (hours_since_featured + 2) ** 1.8

evaluated by hand at a fixed ``now``, and the orders it gives on pages and in the API, within a
day and across days. Expected values below were computed from that formula, not read back from
the code under test."""

from __future__ import annotations

import datetime as dt

import lxml.html
import pytest

from dailypapers import catalog
from dailypapers.ingest import hf_daily
from dailypapers.rank.trending import featured_at, trending_score
from tests.helpers import hf_item, store

UTC = dt.timezone.utc
T0 = dt.datetime(2026, 3, 9, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("upvotes", "hours", "expected"),
    [
        (10, 10, 11 / 12 ** 1.8),     # 0.12556437586589920
        (10, 0, 11 / 2 ** 1.8),       # 3.1589204762418460: featured just now
        (0, 24, 1 / 26 ** 1.8),       # 0.0028382325319901
        (100, 720, 101 / 722 ** 1.8),  # 0.0007226939485038: a month later
        (10, -5, 11 / 2 ** 1.8),      # featured "in the future" (clock skew): age 0, not negative
        (-3, 24, 1 / 26 ** 1.8),      # negative upvotes count as none
    ],
)
def test_trending_score_is_the_documented_formula(upvotes: int, hours: float,
                                                  expected: float) -> None:
    """Fails if the gravity, the +1, the +2 or the clamping of age or votes changes, or if age
    is ignored (the 0 h and 10 h rows would be equal)."""
    literal = {(10, 10): 0.1255643758658992, (10, 0): 3.158920476241846,
               (0, 24): 0.002838232531990098, (100, 720): 0.0007226939485037595}
    got = trending_score(upvotes, T0, T0 + dt.timedelta(hours=hours))
    assert got == pytest.approx(expected, rel=1e-12)
    if (upvotes, hours) in literal:
        assert got == pytest.approx(literal[(upvotes, hours)], rel=1e-12)


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


def _entry(pid: str, upvotes: int, day: dt.date, stamp: str | None = None) -> catalog.Entry:
    return catalog.Entry({"id": pid, "upvotes": upvotes},
                         {"day": day, "submitted_on_daily_at": stamp})


def test_trending_across_days_decays_with_age_at_a_fixed_now() -> None:
    """Fails if trending ignores age (it would follow upvotes: old, mid, new) or decays too
    little. At now = 2026-03-10 00:00 UTC: new (10 votes, 24 h) = 11/26^1.8 = 0.03122,
    mid (30 votes, 72 h) = 31/74^1.8 = 0.01339, old (100 votes, 168 h) = 101/170^1.8 = 0.00977."""
    now = dt.datetime(2026, 3, 10, tzinfo=UTC)
    entries = [_entry("old", 100, dt.date(2026, 3, 3)), _entry("mid", 30, dt.date(2026, 3, 7)),
               _entry("new", 10, dt.date(2026, 3, 9))]
    assert [e.paper["id"] for e in catalog.sort_entries(entries, "trending", now)] == \
        ["new", "mid", "old"]
    assert [e.paper["id"] for e in catalog.sort_entries(entries, "upvotes", now)] == \
        ["old", "mid", "new"]
    assert [e.paper["id"] for e in catalog.sort_entries(entries, "newest", now)] == \
        ["new", "mid", "old"]
    # A day later the ranks hold but every score fell: 11/50^1.8 = 0.009994 for "new".
    later = now + dt.timedelta(hours=24)
    assert trending_score(10, entries[2].featured_at, later) == pytest.approx(11 / 50 ** 1.8)


def test_trending_ties_are_broken_by_earlier_featured_then_id() -> None:
    """Fails if equal scores are ordered differently (by later featured, or by id descending)."""
    now = dt.datetime(2026, 3, 10, tzinfo=UTC)
    day = dt.date(2026, 3, 9)
    entries = [_entry("b", 4, day), _entry("a", 4, day)]
    assert [e.paper["id"] for e in catalog.sort_entries(entries, "trending", now)] == ["a", "b"]
    assert [e.paper["id"] for e in catalog.sort_entries(entries, "upvotes", now)] == ["a", "b"]
    assert [e.paper["id"] for e in catalog.sort_entries(entries, "newest", now)] == ["b", "a"]


# --- one day on the pages and the API ----------------------------------------------------------
# 2026-03-02: A 5 votes at 08:00, B 9 at 10:00, C 5 at 12:00, D 1 at 14:00 (all UTC). Long after
# that day, C's score beats A's (same votes, C 4 h younger): trending B, C, A, D; upvotes puts A
# before C (ties: earlier featured first); newest is D, C, B, A.
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
    """Fails if trending across days ignores age. Featured at midnight UTC: "old" 6 days ago
    with 30 votes, "new" 1 day ago with 5. For any time of today, new/old =
    (6/31)·((h_old+2)/(h_new+2))^1.8 >= (6/31)·(146/50)^1.8 = 1.33: new first; by upvotes old."""
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
