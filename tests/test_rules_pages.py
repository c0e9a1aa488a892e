"""The listing pages' navigation rules (web/routes_pages.py's _listing), by the links a page
holds: a week or month page links the previous period when it or this one has papers, the next
only when it has papers; a day page links its week and month; each page names its canonical URL
(/papers/date/... for a day). SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

import lxml.html

from dailypapers.ingest import hf_daily
from tests.helpers import hf_item, store


def _feature(engine, pid: str, day: str) -> None:
    store(engine, list(hf_daily.parse_items([hf_item(pid, day=day)],
                                            day=dt.date.fromisoformat(day))))


def _links(html: str) -> dict[str, str | None]:
    doc = lxml.html.fromstring(html)

    def href(selector: str) -> str | None:
        found = doc.cssselect(selector)
        return found[0].get("href") if found else None

    return {"prev": href('link[rel="prev"]'), "next": href('link[rel="next"]'),
            "canonical": href('link[rel="canonical"]'),
            "week": href('a[href^="/papers/week/"]'), "month": href('a[href^="/papers/month/"]')}


def test_week_and_month_pages_link_neighbours_that_have_papers(client, engine) -> None:
    _feature(engine, "2602.10001", "2026-02-23")  # 2026-W09, February
    _feature(engine, "2603.10002", "2026-03-02")  # 2026-W10, March
    week = _links(client.get("/papers/week/2026-W10").text)
    assert (week["prev"], week["next"]) == ("/papers/week/2026-W09", None)
    assert week["canonical"].endswith("/papers/week/2026-W10")
    earlier = _links(client.get("/papers/week/2026-W09").text)
    assert earlier["next"] == "/papers/week/2026-W10"
    assert earlier["prev"] == "/papers/week/2026-W08"  # this week has papers: back one more
    empty = _links(client.get("/papers/week/2026-W07").text)  # nothing here or before
    assert (empty["prev"], empty["next"]) == (None, None)
    month = _links(client.get("/papers/month/2026-03").text)
    assert (month["prev"], month["next"]) == ("/papers/month/2026-02", None)
    assert month["canonical"].endswith("/papers/month/2026-03")


def test_a_day_page_links_its_week_month_and_neighbour_days(client, engine) -> None:
    _feature(engine, "2602.10001", "2026-02-23")
    _feature(engine, "2603.10002", "2026-03-02")
    day = _links(client.get("/papers/date/2026-03-02").text)
    assert (day["week"], day["month"]) == ("/papers/week/2026-W10", "/papers/month/2026-03")
    assert (day["prev"], day["next"]) == ("/papers/date/2026-02-23", None)
    assert day["canonical"].endswith("/papers/date/2026-03-02")
