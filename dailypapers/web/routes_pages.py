"""HTML pages, at huggingface.co's URLs: /papers, /papers/date/D, /papers/week/W, /papers/month/M,
/papers/trending, /papers/{id}, and /papers/{id}.md.

Week, month and trending lists show ``PAGE_SIZE`` cards a page (``?page=``): a month is ~350
cards, 480 KB and 69,000 px in one page. Every navigation link keeps the chosen sort."""

from __future__ import annotations

import datetime as dt
import logging
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from dailypapers import catalog
from dailypapers.db import data_version
from dailypapers.ids import InvalidArxivId, split_arxiv_id
from dailypapers.ingest.linked import linked_of
from dailypapers.community.moderation import is_moderator
from dailypapers.web import feeds
from dailypapers.web.deps import ConnDep, render, resolve_user
from dailypapers.web.routes_comments import page_thread, parse_sort
from dailypapers.web.paper_markdown import linked_sections, paper_markdown
from dailypapers.web.request_reads import AppRoute
from dailypapers.web.entries_cache import period_entries
from dailypapers.web.version_memo import last_updated, memo

router = APIRouter(route_class=AppRoute)
log = logging.getLogger("dailypapers.web")

SORT_LABELS = {"trending": "Trending", "upvotes": "Most upvoted", "newest": "Newest"}
PAGE_SIZE = 30  # week, month and trending: the top 30, then paging
MAX_PAGE = 1000


def _sort(value: str | None) -> str:
    if value is None or value == "":
        return "trending"
    if value not in catalog.SORTS:
        raise HTTPException(400, f"unknown sort {value!r}: use one of {', '.join(catalog.SORTS)}")
    return value


@router.get("/", include_in_schema=False)
def home() -> RedirectResponse:
    return RedirectResponse("/papers", status_code=307)


@router.get("/papers", response_class=HTMLResponse, include_in_schema=False)
def latest(request: Request, conn: ConnDep, sort: str | None = None,
           submitter: str | None = None) -> HTMLResponse:
    day = catalog.latest_day(conn)
    if day is None:
        return render(request, "listing.html", period=None, entries=[], sort=_sort(sort),
                      sort_labels=SORT_LABELS, prev_link=None, next_link=None, pages=1,
                      last_updated=last_updated(request, conn), canonical="/papers",
                      feeds=feeds.links("/feeds/latest.atom", "Latest day's papers"),
                      description="Daily papers, with no papers imported yet.")
    return _listing(request, conn, catalog.day_period(day), sort, None, submitter, latest=day)


@router.get("/papers/trending", response_class=HTMLResponse, include_in_schema=False)
def trending(request: Request, conn: ConnDep, page: str | None = None) -> HTMLResponse:
    """The papers of the last ``catalog.TRENDING_DAYS`` featured days, by trending score."""
    entries, days = catalog.trending_entries(conn)
    number, pages, shown = _page_of(entries, page)

    def page_link(n: int) -> str:
        return "/papers/trending" + (f"?page={n}" if n > 1 else "")

    return render(
        request, "listing.html", period=None, trending=True, nav="trending", trending_days=days,
        entries=shown, total=len(entries), first_rank=(number - 1) * PAGE_SIZE + 1,
        sort="trending", sort_labels=SORT_LABELS, prev_link=None, next_link=None,
        page=number, pages=pages, page_link=page_link, last_updated=last_updated(request, conn),
        canonical=page_link(number), feeds=feeds.trending_links(), description=(
            f"Trending papers of the last {catalog.TRENDING_DAYS} featured days, by upvotes "
            "and freshness."),
    )


@router.get("/papers/date", include_in_schema=False)
def date_picker(d: str | None = None, sort: str | None = None,
                submitter: str | None = None) -> RedirectResponse:
    """Where the day picker's form (GET, no state change) lands: on that day's page, in the
    sort (and for the submitter) the list it was on had."""
    day = _or_400(catalog.parse_day, d or "")
    return RedirectResponse(f"/papers/date/{day.isoformat()}{_query(_sort(sort), submitter)}",
                            status_code=302)


@router.get("/papers/date/{day}", response_class=HTMLResponse, include_in_schema=False)
def by_day(request: Request, conn: ConnDep, day: str, sort: str | None = None,
           submitter: str | None = None) -> HTMLResponse:
    period = catalog.day_period(_or_400(catalog.parse_day, day))
    return _listing(request, conn, period, sort, None, submitter)


@router.get("/papers/week/{week}", response_class=HTMLResponse, include_in_schema=False)
def by_week(request: Request, conn: ConnDep, week: str, sort: str | None = None,
            page: str | None = None, submitter: str | None = None) -> HTMLResponse:
    return _listing(request, conn, _or_400(catalog.parse_week, week), sort, page, submitter)


@router.get("/papers/month/{month}", response_class=HTMLResponse, include_in_schema=False)
def by_month(request: Request, conn: ConnDep, month: str, sort: str | None = None,
             page: str | None = None, submitter: str | None = None) -> HTMLResponse:
    return _listing(request, conn, _or_400(catalog.parse_month, month), sort, page, submitter)


@router.get("/papers/{paper_id:path}.md", include_in_schema=False)
def paper_markdown_page(request: Request, conn: ConnDep, paper_id: str) -> Response:
    """The paper as Markdown (``HfApi.read_paper``). Declared before the HTML page, whose
    ``{paper_id:path}`` would otherwise take ``2401.12345.md`` and answer 404."""
    try:
        canonical, _version = split_arxiv_id(paper_id)
    except InvalidArxivId:
        raise HTTPException(404, f"{paper_id!r} is not an arXiv identifier") from None
    paper = _paper_or_404(request, conn, canonical)
    text = paper_markdown(paper, catalog.features_of(conn, canonical), linked_of(conn, canonical))
    # nosniff: upstream text must never be taken for HTML by a browser opening the file.
    return Response(text, media_type="text/markdown; charset=utf-8",
                    headers={"X-Content-Type-Options": "nosniff"})


@router.get("/papers/{paper_id:path}", response_class=HTMLResponse, include_in_schema=False)
def paper_page(request: Request, conn: ConnDep, paper_id: str,
               sort: str | None = None) -> HTMLResponse:
    order = parse_sort(sort)  # the comments' order: ?sort=top|new
    try:
        canonical, _version = split_arxiv_id(paper_id)
    except InvalidArxivId:
        raise HTTPException(404, f"{paper_id!r} is not an arXiv identifier") from None
    if canonical != paper_id:
        return RedirectResponse(f"/papers/{canonical}", status_code=308)  # type: ignore[return-value]
    paper = _paper_or_404(request, conn, canonical)
    features = catalog.features_of(conn, canonical)
    return render(request, "paper.html", paper=paper, features=features,
                  similar=_similar(request, conn, canonical),
                  linked=linked_sections(linked_of(conn, canonical)),
                  last_updated=last_updated(request, conn), canonical=f"/papers/{canonical}",
                  **page_thread(request, conn, canonical, _viewer_id(request), order))


def _viewer_id(request: Request) -> int | None:
    user = resolve_user(request)
    return user.id if user is not None else None


def _paper_or_404(request: Request, conn: ConnDep, paper_id: str) -> dict:  # type: ignore[type-arg]
    """The paper; a hidden one is a 404 like a missing one, except to a moderator (whose page
    says it is hidden and offers to unhide it)."""
    paper = catalog.get_paper(conn, paper_id, include_hidden=True)
    if paper is None or (paper["hidden_at"] is not None
                         and not is_moderator(resolve_user(request))):
        raise HTTPException(404, f"No paper {paper_id} here yet")
    return paper


def _similar(request: Request, conn: ConnDep, paper_id: str, k: int = 6) -> list[dict]:  # type: ignore[type-arg]
    """Nearest papers by embedding; nothing while this paper has no vector yet."""
    try:
        neighbours = request.app.state.search.similar(paper_id, k)
    except Exception:  # the model or index unavailable must not take the paper page down
        log.exception("similar papers unavailable")
        return []
    # Titles and authors only (paper.html): a vote on a neighbour leaves this page as it was.
    # Noted, each vote ended the cached pages of the ~6 papers it neighbours as well as its own.
    rows = catalog.papers_by_ids(conn, [pid for pid, _ in neighbours], shows_votes=False)
    return [rows[pid] for pid, _ in neighbours if pid in rows]


def _or_400(parse, text: str):  # type: ignore[no-untyped-def]
    try:
        return parse(text)
    except catalog.BadPeriod as exc:
        raise HTTPException(400, str(exc)) from None


def _page_of(entries: list, page: str | None) -> tuple[int, int, list]:  # type: ignore[type-arg]
    """(page number, page count, the page's entries); a page that is not a number is a 400."""
    if page is None or page == "":
        number = 1
    elif not page.isascii() or not page.isdigit() or not 1 <= int(page) <= MAX_PAGE:
        raise HTTPException(400, f"invalid page {page!r}: expected a number from 1 to {MAX_PAGE}")
    else:
        number = int(page)
    pages = max(1, -(-len(entries) // PAGE_SIZE))
    if number > pages:
        raise HTTPException(404, f"No page {number}: there are {pages}")
    return number, pages, entries[(number - 1) * PAGE_SIZE:number * PAGE_SIZE]


def _query(sort: str, submitter: str | None, page: int = 1) -> str:
    """The query string a navigation link carries: the sort (unless the default), the
    submitter filter, the page (unless the first)."""
    query = {}
    if sort != "trending":
        query["sort"] = sort
    if submitter:
        query["submitter"] = submitter
    if page > 1:
        query["page"] = str(page)
    return f"?{urlencode(query)}" if query else ""


def _listing(request: Request, conn: ConnDep, period: catalog.Period, sort: str | None,
             page: str | None, submitter: str | None, latest: dt.date | None = None) -> HTMLResponse:
    sort = _sort(sort)
    submitter = submitter or None
    if submitter is not None and len(submitter) > 128:  # the stored names are at most 128
        raise HTTPException(400, "invalid submitter: at most 128 characters")
    entries = period_entries(request, conn, period.start, period.end, sort=sort,
                             submitter=submitter)
    if period.kind == "day":  # a day is ~50 papers: one page
        number, pages, shown = 1, 1, entries
    else:
        number, pages, shown = _page_of(entries, page)
    keep = _query(sort, submitter)
    if period.kind == "day":
        before, after = memo(request, ("neighbours", period.start),
                             lambda: catalog.neighbour_days(conn, period.start))
        prev_link = f"/papers/date/{before.isoformat()}{keep}" if before else None
        next_link = f"/papers/date/{after.isoformat()}{keep}" if after else None
    else:
        prev_p, next_p = period.previous(), period.next()
        prev_link = (f"/papers/{period.kind}/{prev_p.label}{keep}"
                     if catalog.period_has_entries(conn, prev_p) or entries else None)
        next_link = (f"/papers/{period.kind}/{next_p.label}{keep}"
                     if catalog.period_has_entries(conn, next_p) else None)
    path = f"/papers/{'date' if period.kind == 'day' else period.kind}/{period.label}"
    week_label = catalog.week_period(period.start).label
    month_label = catalog.month_period(period.start).label
    today = dt.datetime.now(dt.timezone.utc).date()
    if latest is not None:  # "Today" or "Latest": this answer changes at midnight
        data_version.note_clock()
    if period.kind == "day":  # that day's list first, /papers's rolling feed after it
        announced = feeds.day_links(period.start, latest=latest is not None)
    else:  # a month has no feed of its own
        announced = feeds.week_links(period.label) if period.kind == "week" else []
    return render(
        request, "listing.html", period=period, entries=shown, total=len(entries), sort=sort,
        first_rank=(number - 1) * PAGE_SIZE + 1, submitter=submitter,
        sort_labels=SORT_LABELS, sort_link=lambda key: path + _query(key, submitter),
        prev_link=prev_link, next_link=next_link, page=number, pages=pages,
        page_link=lambda n: path + _query(sort, submitter, n),
        unfiltered_link=path + _query(sort, None),
        views={"day": f"/papers/date/{period.start.isoformat()}{keep}",
               "week": f"/papers/week/{week_label}{keep}",
               "month": f"/papers/month/{month_label}{keep}"},
        latest_label="Today" if latest is not None and latest == today else "Latest",
        nav="latest" if latest else None,
        last_updated=last_updated(request, conn),
        canonical="/papers" if latest else path + _query("trending", None, number),
        description=_describe(period, len(entries)), feeds=announced,
    )


def _describe(period: catalog.Period, count: int) -> str:
    papers = f"{count} paper{'s' if count != 1 else ''}"
    if period.kind == "day":
        return f"{papers} featured on {period.start:%A, %B} {period.start.day}, {period.start:%Y}."
    if period.kind == "week":
        return f"{papers} featured in week {period.label}, ranked, with abstracts and code links."
    return f"{papers} featured in {period.start:%B %Y}, ranked, with abstracts and code links."
