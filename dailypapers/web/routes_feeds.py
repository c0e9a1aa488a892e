"""Atom and RSS feeds (``/feeds/…``), the /feeds page listing them, and the autodiscovery links
pages announce.

Each feed comes as ``.atom`` and ``.rss``: a day's list and the latest day's, a week's top,
trending (the list of /papers/trending), an arXiv category, any search, and a public
collection. Day, week and
trending items keep their page's order (the stored trending score); category and search items are
newest first. At most ``feeds.MAX_ITEMS`` items. A bad date, week, category or query is a 400
``{"error": …}`` as the API answers; a day or week without papers is an empty, valid feed (it
may still fill: a reader subscribed to today's feed before the sync sees the papers later).

Conditional GET: the ETag is a hash of the document, Last-Modified the newest change among its
items; a matching If-None-Match (or, without one, an If-Modified-Since not older) is a 304.

A feed of any other list of papers is one call to :func:`papers_feed`. A collection's feed holds
its papers most recently added first, dated when each was added; an unknown or private
collection is a 404 (a feed reader has no session: even its owner's private one stays shut).
"""

from __future__ import annotations

import dataclasses

import datetime as dt
import email.utils
import hashlib
import re
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.engine import Connection

from dailypapers import catalog
from dailypapers.community import collections as cs
from dailypapers.index.keyword import SearchFilters
from dailypapers.index.query import QueryError
from dailypapers.web import feeds
from dailypapers.web.deps import ConnDep, api_error, public_base, render
from dailypapers.web.limits import LimitedRoute
from dailypapers.web.routes_search import filters_from
from dailypapers.web.request_reads import AppRoute
from dailypapers.web.version_memo import hidden_paper_ids, last_updated

router = APIRouter(route_class=AppRoute)
# Category and search feeds run a search: they share the search slots (web/limits.py).
search_router = APIRouter(route_class=LimitedRoute)

CACHE_CONTROL = "public, max-age=600"  # readers poll; ten minutes late is fine for a daily list
MAX_CATEGORY = 32  # papers.primary_category's width
_CATEGORY = re.compile(r"[a-z][a-z-]*(?:\.[A-Za-z][A-Za-z-]*)?")  # cs, cs.CL, q-bio.NC
MAX_SHOWN = 200  # a query echoed into a feed's title
T = TypeVar("T")


# --- building and answering ------------------------------------------------------------------


def _items_of_entries(entries: list[catalog.Entry]) -> list[feeds.FeedItem]:
    first = feeds.first_of_each([(e.paper["id"], e) for e in entries])
    return [feeds.item_for(e.paper, e.featured_at) for e in first]


def _items_of_papers(conn: Connection, papers: list[dict[str, Any]],
                     dated: dict[str, dt.datetime] | None = None) -> list[feeds.FeedItem]:
    """Items for papers in a given order, dated by ``dated[id]`` when given, else by their
    latest feature, else by arXiv's date."""
    papers = feeds.first_of_each([(p["id"], p) for p in papers])
    featured = catalog.latest_features(conn, [p["id"] for p in papers])
    return [feeds.item_for(p, (dated or {}).get(p["id"])
                           or feeds.paper_time(p, featured.get(p["id"]))) for p in papers]


def _fmt(request: Request) -> str:
    """The format a route answers, from its path's suffix (each route takes ``.atom`` and
    ``.rss``)."""
    return request.url.path.rsplit(".", 1)[1]


def feed_answer(request: Request, conn: Connection, *, title: str, subtitle: str,
                page_path: str, items: list[feeds.FeedItem],
                changed_at: dt.datetime | None = None) -> Response:
    """The feed document in the format the path names, or a 304 when the reader already has
    it. ``changed_at``: a change the items do not show (a paper taken out of a list, a new
    title), so Last-Modified moves with it."""
    fmt = _fmt(request)
    site = request.app.state.settings.site_name
    self_path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    updated = feeds.last_modified(items, None if items else catalog.last_updated(conn))
    if changed_at is not None:
        updated = max(updated, feeds.as_utc(changed_at).replace(microsecond=0))  # type: ignore[union-attr]
    body = feeds.render_feed(fmt, base=public_base(request), title=f"{site}: {title}",
                             subtitle=subtitle, self_path=self_path, page_path=page_path,
                             items=items, updated=updated, site_name=site)
    headers = {"ETag": f'"{hashlib.sha256(body).hexdigest()[:32]}"',
               "Last-Modified": email.utils.format_datetime(updated, usegmt=True),
               "Cache-Control": CACHE_CONTROL}
    if _not_modified(request, headers["ETag"], updated):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=feeds.MEDIA_TYPES[fmt], headers=headers)


def papers_feed(request: Request, conn: Connection, papers: list[dict[str, Any]], *,
                title: str, page_path: str, subtitle: str = "",
                dated: dict[str, dt.datetime] | None = None,
                changed_at: dt.datetime | None = None) -> Response:
    """A feed of these ``papers`` rows in this order, each dated by ``dated[id]`` when given
    (a collection's: when each paper was added)."""
    return feed_answer(request, conn, title=title, subtitle=subtitle or title,
                       page_path=page_path, items=_items_of_papers(conn, papers, dated),
                       changed_at=changed_at)


def _not_modified(request: Request, etag: str, updated: dt.datetime) -> bool:
    """RFC 9110 §13.2.2: If-None-Match decides when present (weak comparison); otherwise
    If-Modified-Since, ignored when it cannot be read."""
    match = request.headers.get("if-none-match")
    if match is not None:
        tags = {t.strip().removeprefix("W/") for t in match.split(",")}
        return "*" in tags or etag in tags
    since = request.headers.get("if-modified-since")
    if not since:
        return False
    try:
        stamp = email.utils.parsedate_to_datetime(since)
    except (TypeError, ValueError, IndexError):
        return False
    if stamp is None or stamp.tzinfo is None:
        return False
    return updated <= stamp


# --- routes ----------------------------------------------------------------------------------


def _bad(exc: Exception) -> Response:
    return api_error(400, str(exc))


def _period_or_400(parse: Callable[[str], T], text: str,
                   answer: Callable[[T], Response]) -> Response:
    """``answer`` for the date or week ``text`` names, or the 400 ``{"error": …}`` a feed gives
    for one that cannot be read (routes_pages' ``_or_400`` raises, which pages show as HTML)."""
    try:
        parsed = parse(text)
    except catalog.BadPeriod as exc:
        return _bad(exc)
    return answer(parsed)


@router.get("/feeds", response_class=HTMLResponse, include_in_schema=False)
def feeds_page(request: Request, conn: ConnDep) -> HTMLResponse:
    day = catalog.latest_day(conn)
    return render(request, "feeds.html", latest_day=day,
                  week=catalog.week_period(day).label if day else None,
                  categories=request.app.state.settings.arxiv_categories,
                  last_updated=last_updated(request, conn), canonical="/feeds",
                  feeds=feeds.trending_links(),
                  description="Atom and RSS feeds of daily, weekly, trending, category and search "
                              "lists.")


def _day_feed(request: Request, conn: Connection, day: dt.date | None,
              page_path: str) -> Response:
    entries = catalog.entries_in(conn, day, day + dt.timedelta(days=1)) if day else []
    label = day.isoformat() if day else "no papers yet"
    return feed_answer(request, conn, title=f"Papers of {label}",
                       subtitle=f"Papers featured on {label}, by trending score.",
                       page_path=page_path, items=_items_of_entries(entries))


@router.get("/feeds/latest.atom", include_in_schema=False)
@router.get("/feeds/latest.rss", include_in_schema=False)
def latest_feed(request: Request, conn: ConnDep) -> Response:
    return _day_feed(request, conn, catalog.latest_day(conn), "/papers")


@router.get("/feeds/day/{day}.atom", include_in_schema=False)
@router.get("/feeds/day/{day}.rss", include_in_schema=False)
def day_feed(request: Request, conn: ConnDep, day: str) -> Response:
    return _period_or_400(catalog.parse_day, day, lambda parsed: _day_feed(
        request, conn, parsed, f"/papers/date/{parsed.isoformat()}"))


@router.get("/feeds/week/{week}.atom", include_in_schema=False)
@router.get("/feeds/week/{week}.rss", include_in_schema=False)
def week_feed(request: Request, conn: ConnDep, week: str) -> Response:
    return _period_or_400(catalog.parse_week, week,
                          lambda period: _week_feed(request, conn, period))


def _week_feed(request: Request, conn: Connection, period: catalog.Period) -> Response:
    entries = catalog.entries_in(conn, period.start, period.end)
    return feed_answer(request, conn, title=f"Top papers of week {period.label}",
                       subtitle=f"The week's papers by trending score, at most {feeds.MAX_ITEMS}.",
                       page_path=f"/papers/week/{period.label}", items=_items_of_entries(entries))


@router.get("/feeds/trending.atom", include_in_schema=False)
@router.get("/feeds/trending.rss", include_in_schema=False)
def trending_feed(request: Request, conn: ConnDep) -> Response:
    entries, _days = catalog.trending_entries(conn)
    return feed_answer(request, conn, title="Trending papers",
                       subtitle=f"The papers of the last {catalog.TRENDING_DAYS} featured days, "
                                "by trending score.",
                       page_path="/papers/trending", items=_items_of_entries(entries))


def _search_papers(request: Request, conn: Connection, query: str,
                   filters: SearchFilters) -> list[dict[str, Any]]:
    # Papers a moderator hid are left out inside the search (they would take places otherwise).
    filters = dataclasses.replace(filters, hidden_ids=hidden_paper_ids(request, conn))
    results = request.app.state.search.search(query, limit=feeds.MAX_ITEMS, filters=filters,
                                              sort="newest", mode="keyword", strict=True)
    rows = catalog.papers_by_ids(conn, [h.paper_id for h in results.hits])
    return [rows[h.paper_id] for h in results.hits if h.paper_id in rows]


@search_router.get("/feeds/category/{category}.atom", include_in_schema=False)
@search_router.get("/feeds/category/{category}.rss", include_in_schema=False)
def category_feed(request: Request, conn: ConnDep, category: str) -> Response:
    if not _valid_category(category):
        return api_error(400, f"invalid category {category[:40]!r}: expected an arXiv category "
                              "such as cs.CL, or an archive such as cs")
    try:
        papers = _search_papers(request, conn, "", SearchFilters(category=category))
    except QueryError as exc:
        return _bad(exc)
    return papers_feed(request, conn, papers, title=f"arXiv {category}",
                       subtitle=f"Newest papers in {category} that an arXiv source described "
                                "(Hugging Face records carry no categories).",
                       page_path="/search?" + urlencode({"q": f"cat:{category}",
                                                         "sort": "newest"}))


def _valid_category(text: str) -> bool:
    return len(text) <= MAX_CATEGORY and _CATEGORY.fullmatch(text) is not None


@search_router.get("/feeds/search.atom", include_in_schema=False)
@search_router.get("/feeds/search.rss", include_in_schema=False)
def search_feed(request: Request, conn: ConnDep) -> Response:
    params = request.query_params
    try:
        papers = _search_papers(request, conn, params.get("q") or "", filters_from(params))
    except QueryError as exc:
        return _bad(exc)
    query = {k: params.get(k) for k in feeds.SEARCH_PARAMS if params.get(k)}
    shown = (params.get("q") or ", ".join(f"{k}={v}" for k, v in query.items())
             or "everything")[:MAX_SHOWN]
    return papers_feed(request, conn, papers, title=f"Search: {shown}",
                       subtitle=f"Newest papers matching {shown!r}.",
                       page_path="/search?" + urlencode({**query, "sort": "newest"}))




@router.get("/feeds/collection/{collection_id}.atom", include_in_schema=False)
@router.get("/feeds/collection/{collection_id}.rss", include_in_schema=False)
def collection_feed(request: Request, conn: ConnDep, collection_id: str) -> Response:
    number = cs.parse_id(collection_id)
    try:
        if number is None:
            raise cs.NotFound(f"Collection {collection_id[:40]!r} not found")
        collection = cs.get_visible(conn, number, None)  # public ones only, whoever asks
    except cs.NotFound as exc:
        return api_error(404, str(exc))
    held = cs.newest_items(conn, collection, feeds.MAX_ITEMS)
    return papers_feed(request, conn, [i.paper for i in held],
                       title=f"{collection.name} (a collection by {collection.owner})",
                       subtitle=collection.description or
                       f"Papers {collection.owner} collected, the most recently added first.",
                       page_path=f"/collections/{collection.id}",
                       dated={i.paper["id"]: i.added_at for i in held},
                       changed_at=collection.updated_at)
