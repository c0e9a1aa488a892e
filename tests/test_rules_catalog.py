"""The catalogue's reading rules (catalog.py), each on data built so a wrong rule answers
differently: periods are half-open and their neighbours step by exactly a day, week or month; the
URL forms of a day, week and month are read at their edges (1900 to 2199, week 53, month 12) with
messages that say what was expected; the latest-days API orders and ties; which feature day is
"latest"; the keyset of papers newest first across new- and old-style ids. SQLite and
PostgreSQL for the queries; the period rules are pure."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from dailypapers import catalog
from dailypapers.db.engine import read_transaction, write_transaction
from dailypapers.db.schema import ingest_runs
from dailypapers.ingest import hf_daily
from tests.helpers import hf_item, store

UTC = dt.timezone.utc
D = dt.date


def _bad(call, text: str) -> str:
    with pytest.raises(catalog.BadPeriod) as caught:
        call(text)
    return str(caught.value)


# --- periods -------------------------------------------------------------------------------------

def test_periods_are_half_open_with_labels() -> None:
    day = catalog.day_period(D(2026, 3, 2))
    assert (day.kind, day.start, day.end, day.label, day.last) == \
        ("day", D(2026, 3, 2), D(2026, 3, 3), "2026-03-02", D(2026, 3, 2))
    week = catalog.week_period(D(2026, 1, 1))  # a Thursday: its ISO week began in 2025
    assert (week.kind, week.start, week.end, week.label, week.last) == \
        ("week", D(2025, 12, 29), D(2026, 1, 5), "2026-W01", D(2026, 1, 4))
    assert catalog.week_period(D(2026, 3, 8)).start == D(2026, 3, 2)  # Sunday: same week
    assert catalog.week_period(D(2026, 3, 2)).label == "2026-W10"
    leap = catalog.month_period(D(2024, 2, 17))
    assert (leap.kind, leap.start, leap.end, leap.label, leap.last) == \
        ("month", D(2024, 2, 1), D(2024, 3, 1), "2024-02", D(2024, 2, 29))


def test_previous_and_next_step_by_one_period() -> None:
    day = catalog.day_period(D(2026, 3, 1))
    assert day.previous() == catalog.day_period(D(2026, 2, 28))
    assert day.next() == catalog.day_period(D(2026, 3, 2))
    week = catalog.week_period(D(2026, 1, 1))
    assert week.previous().label == "2025-W52" and week.previous().start == D(2025, 12, 22)
    assert week.next().label == "2026-W02" and week.next().start == D(2026, 1, 5)
    january = catalog.month_period(D(2026, 1, 31))
    assert january.previous() == catalog.month_period(D(2025, 12, 1))
    assert january.previous().end == D(2026, 1, 1)
    assert january.next() == catalog.month_period(D(2026, 2, 1))
    assert january.next().end == D(2026, 3, 1)
    march = catalog.month_period(D(2026, 3, 1))  # February is 28 days: one day back lands in it
    assert march.previous().label == "2026-02"


def test_days_are_read_within_the_served_years() -> None:
    assert catalog.parse_day("1900-01-01") == D(1900, 1, 1)
    assert catalog.parse_day("2199-12-31") == D(2199, 12, 31)
    assert _bad(catalog.parse_day, "1899-12-31") == \
        "invalid date '1899-12-31': only years 1900 to 2199"
    assert _bad(catalog.parse_day, "2200-01-01") == \
        "invalid date '2200-01-01': only years 1900 to 2199"
    assert _bad(catalog.parse_day, "2026-02-29") == "invalid date '2026-02-29': no such day"
    assert _bad(catalog.parse_day, "2026-3-2") == "invalid date '2026-3-2': expected YYYY-MM-DD"
    assert _bad(catalog.parse_day, "2026-03-02\n") == \
        "invalid date '2026-03-02\\n': expected YYYY-MM-DD"
    assert _bad(catalog.parse_day, None) == "invalid date None: expected YYYY-MM-DD"


def test_weeks_are_read_with_week_53_only_where_it_exists() -> None:
    assert catalog.parse_week("2020-W53") == catalog.week_period(D(2020, 12, 28))
    assert catalog.parse_week("1900-W01").start == D(1900, 1, 1)
    assert catalog.parse_week("2199-W52").label == "2199-W52"
    assert _bad(catalog.parse_week, "2025-W53") == "invalid week '2025-W53': no such ISO week"
    assert _bad(catalog.parse_week, "2026-W00") == "invalid week '2026-W00': no such ISO week"
    assert _bad(catalog.parse_week, "1899-W52") == \
        "invalid week '1899-W52': only years 1900 to 2199"
    assert _bad(catalog.parse_week, "2200-W01") == \
        "invalid week '2200-W01': only years 1900 to 2199"
    assert _bad(catalog.parse_week, "2026-W7") == \
        "invalid week '2026-W7': expected YYYY-Www, e.g. 2025-W07"
    assert _bad(catalog.parse_week, None) == \
        "invalid week None: expected YYYY-Www, e.g. 2025-W07"


def test_months_are_read_from_01_to_12() -> None:
    assert catalog.parse_month("2026-01") == catalog.month_period(D(2026, 1, 1))
    assert catalog.parse_month("2026-12").end == D(2027, 1, 1)
    assert catalog.parse_month("1900-01").start == D(1900, 1, 1)
    assert catalog.parse_month("2199-12").last == D(2199, 12, 31)
    for bad in ("2026-13", "2026-00", "0000-01", "2026-1", "2026-01\n"):
        assert _bad(catalog.parse_month, bad) == f"invalid month {bad!r}: expected YYYY-MM"
    assert _bad(catalog.parse_month, None) == "invalid month None: expected YYYY-MM"
    assert _bad(catalog.parse_month, "1899-12") == \
        "invalid month '1899-12': only years 1900 to 2199"
    assert _bad(catalog.parse_month, "2200-01") == \
        "invalid month '2200-01': only years 1900 to 2199"


# --- the database --------------------------------------------------------------------------------

def _feature(engine, pid: str, day: str, votes: int, clock: str | None = "12:00",
             submitter: str = "grace") -> None:
    item = hf_item(pid, title=f"Paper {pid}", upvotes=votes, day=day,
                   submittedOnDailyAt=f"{day}T{clock}:00.000Z" if clock else None)
    item["submittedBy"]["name"] = submitter
    store(engine, list(hf_daily.parse_items([item], day=D.fromisoformat(day))))


def _ids(entries) -> list[str]:
    return [e.paper["id"] for e in entries]


def test_entries_in_a_period_include_its_start_and_exclude_its_end(engine) -> None:
    for n, day in enumerate(("2026-03-01", "2026-03-02", "2026-03-03", "2026-03-04")):
        _feature(engine, f"2603.1000{n}", day, votes=n, submitter="ada" if n == 2 else "grace")
    with read_transaction(engine) as conn:
        inside = catalog.entries_in(conn, D(2026, 3, 2), D(2026, 3, 4), sort="upvotes")
        assert _ids(inside) == ["2603.10002", "2603.10001"]
        assert _ids(catalog.entries_in(conn, D(2026, 3, 1), D(2026, 3, 5), sort="newest",
                                       submitter="ada")) == ["2603.10002"]
        assert catalog.period_has_entries(conn, catalog.day_period(D(2026, 3, 4)))
        assert not catalog.period_has_entries(conn, catalog.day_period(D(2026, 3, 5)))
        assert not catalog.period_has_entries(conn, catalog.day_period(D(2026, 2, 28)))
        assert catalog.latest_day(conn) == D(2026, 3, 4)
        assert catalog.neighbour_days(conn, D(2026, 3, 2)) == (D(2026, 3, 1), D(2026, 3, 3))
        assert catalog.neighbour_days(conn, D(2026, 3, 1)) == (None, D(2026, 3, 2))
        assert catalog.select_recent_days(conn, 2) == [D(2026, 3, 4), D(2026, 3, 3)]
        assert catalog.select_recent_days(conn, 9, "ada") == [D(2026, 3, 3)]


def test_neighbour_days_skip_empty_days(engine) -> None:
    _feature(engine, "2603.10001", "2026-03-02", 1)
    _feature(engine, "2603.10002", "2026-03-09", 1)
    with read_transaction(engine) as conn:
        assert catalog.neighbour_days(conn, D(2026, 3, 5)) == (D(2026, 3, 2), D(2026, 3, 9))
        assert catalog.neighbour_days(conn, D(2026, 3, 9)) == (D(2026, 3, 2), None)


def test_latest_entries_upvotes_ties_go_to_the_earlier_day_then_time_then_id(engine) -> None:
    _feature(engine, "2603.10005", "2026-03-03", 7, "08:00")
    _feature(engine, "2603.10004", "2026-03-02", 7, "12:00")
    _feature(engine, "2603.10003", "2026-03-02", 7, "09:00")
    _feature(engine, "2603.10002", "2026-03-02", 7, None)  # no time: first of its day
    _feature(engine, "2603.10001", "2026-03-02", 7, None)
    _feature(engine, "2603.10009", "2026-03-01", 2, "10:00")
    expected = ["2603.10001", "2603.10002", "2603.10003", "2603.10004", "2603.10005",
                "2603.10009"]
    with read_transaction(engine) as conn:
        assert _ids(catalog.latest_entries(conn, sort="upvotes", limit=10, offset=0)) == expected
        assert _ids(catalog.latest_entries(conn, sort="upvotes", limit=2, offset=3)) == \
            expected[3:5]


def test_latest_entries_newest_by_day_then_time_then_votes_then_id(engine) -> None:
    _feature(engine, "2603.10001", "2026-03-02", 1, "08:00")
    _feature(engine, "2603.10002", "2026-03-02", 5, "12:00")
    _feature(engine, "2603.10003", "2026-03-02", 9, "12:00")
    _feature(engine, "2603.10004", "2026-03-02", 9, "12:00", submitter="ada")
    _feature(engine, "2603.10005", "2026-03-01", 50, "23:00")
    with read_transaction(engine) as conn:
        assert _ids(catalog.latest_entries(conn, sort="newest", limit=10, offset=0)) == [
            "2603.10003", "2603.10004", "2603.10002", "2603.10001", "2603.10005"]
        assert _ids(catalog.latest_entries(conn, sort="newest", limit=10, offset=0,
                                           submitter="ada")) == ["2603.10004"]
        assert _ids(catalog.latest_entries(conn, sort="upvotes", limit=10, offset=0,
                                           submitter="ada")) == ["2603.10004"]


def test_latest_trending_pages_and_filters_by_submitter(engine) -> None:
    _feature(engine, "2603.10001", "2026-03-02", 3, "08:00")
    _feature(engine, "2603.10002", "2026-03-02", 30, "08:00")
    _feature(engine, "2603.10003", "2026-03-02", 10, "08:00", submitter="ada")
    with read_transaction(engine) as conn:
        assert _ids(catalog.latest_entries(conn, sort="trending", limit=1, offset=1)) == \
            ["2603.10003"]
        assert _ids(catalog.latest_entries(conn, sort="trending", limit=5, offset=0,
                                           submitter="ada")) == ["2603.10003"]
        assert catalog.latest_entries(conn, sort="trending", limit=5, offset=0,
                                      submitter="nobody") == []


def test_single_papers_features_and_counts(engine) -> None:
    _feature(engine, "2603.10001", "2026-03-02", 3)
    _feature(engine, "2603.10001", "2026-03-09", 4)
    _feature(engine, "2603.10002", "2026-03-05", 1)
    with read_transaction(engine) as conn:
        assert catalog.get_paper(conn, "2603.10001")["id"] == "2603.10001"
        assert catalog.get_paper(conn, "2603.99999") is None
        assert [f["day"] for f in catalog.features_of(conn, "2603.10001")] == \
            [D(2026, 3, 9), D(2026, 3, 2)]
        assert catalog.counts(conn) == {"papers": 2, "feature_days": 3}
        assert set(catalog.papers_by_ids(conn, ["2603.10002", "2603.99999"])) == {"2603.10002"}
        assert catalog.papers_by_ids(conn, []) == {}
        latest = catalog.latest_features(conn, ["2603.10001", "2603.10002", "2603.99999"])
        assert {pid: f["day"] for pid, f in latest.items()} == {
            "2603.10001": D(2026, 3, 9), "2603.10002": D(2026, 3, 5)}
        assert catalog.latest_features(conn, []) == {}


def test_last_updated_is_the_end_of_the_newest_successful_run(engine) -> None:
    with read_transaction(engine) as conn:
        assert catalog.last_updated(conn) is None
        assert catalog.counts(conn) == {"papers": 0, "feature_days": 0}
    start = dt.datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    with write_transaction(engine) as conn:
        # The ok run at 4 h stored nothing new: data did not change then.
        for status, hours, stored in (("ok", 1, 1), ("ok", 3, 1), ("ok", 4, 0), ("failed", 5, 1),
                                      ("running", 7, 1)):
            conn.execute(sa.insert(ingest_runs).values(
                source="import", status=status, started_at=start, updated=stored,
                finished_at=start + dt.timedelta(hours=hours)))
    with read_transaction(engine) as conn:
        stamp = catalog.last_updated(conn)
    assert stamp == dt.datetime(2026, 3, 2, 11, 0, tzinfo=UTC) and stamp.tzinfo is not None


def test_papers_newest_first_pages_new_then_old_style_ids(engine) -> None:
    ids = ["2603.10002", "2603.10001", "2401.00001", "hep-th/9901001", "cs/0112017",
           "cs/0001001"]
    for pid in ids:
        _feature(engine, pid, "2026-03-02", 1)
    with read_transaction(engine) as conn:
        def page(after, limit):
            return [p["id"] for p in catalog.papers_newest_first(conn, after, limit)]

        assert page(None, 10) == ids
        assert page(None, 2) == ids[:2]
        assert page("2603.10001", 2) == ["2401.00001", "hep-th/9901001"]  # crosses the halves
        assert page("2401.00001", 10) == ids[3:]
        assert page("hep-th/9901001", 1) == ["cs/0112017"]
        assert page("cs/0001001", 5) == []
