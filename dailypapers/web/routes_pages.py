"""HTML pages, at huggingface.co's URLs: /papers, /papers/date/D, /papers/week/W, /papers/month/M,
/papers/{id}, and /papers/{id}.md."""

from __future__ import annotations

import logging

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from dailypapers import catalog
from dailypapers.ids import InvalidArxivId, split_arxiv_id
from dailypapers.ingest.linked import linked_of
from dailypapers.web.deps import ConnDep, render
from dailypapers.web.paper_markdown import linked_sections, paper_markdown

router = APIRouter()
log = logging.getLogger("dailypapers.web")

SORT_LABELS = {"trending": "Trending", "upvotes": "Most upvoted", "newest": "Newest"}


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
def latest(request: Request, conn: ConnDep, sort: str | None = None) -> HTMLResponse:
    day = catalog.latest_day(conn)
    if day is None:
        return render(request, "listing.html", period=None, entries=[], sort=_sort(sort),
                      sort_labels=SORT_LABELS, prev_link=None, next_link=None,
                      last_updated=catalog.last_updated(conn), canonical="/papers")
    return _listing(request, conn, catalog.day_period(day), sort)


@router.get("/papers/date/{day}", response_class=HTMLResponse, include_in_schema=False)
def by_day(request: Request, conn: ConnDep, day: str, sort: str | None = None) -> HTMLResponse:
    return _listing(request, conn, catalog.day_period(_or_400(catalog.parse_day, day)), sort)


@router.get("/papers/week/{week}", response_class=HTMLResponse, include_in_schema=False)
def by_week(request: Request, conn: ConnDep, week: str, sort: str | None = None) -> HTMLResponse:
    return _listing(request, conn, _or_400(catalog.parse_week, week), sort)


@router.get("/papers/month/{month}", response_class=HTMLResponse, include_in_schema=False)
def by_month(request: Request, conn: ConnDep, month: str, sort: str | None = None) -> HTMLResponse:
    return _listing(request, conn, _or_400(catalog.parse_month, month), sort)


@router.get("/papers/{paper_id:path}.md", include_in_schema=False)
def paper_markdown_page(conn: ConnDep, paper_id: str) -> Response:
    """The paper as Markdown (``HfApi.read_paper``). Declared before the HTML page, whose
    ``{paper_id:path}`` would otherwise take ``2401.12345.md`` and answer 404."""
    try:
        canonical, _version = split_arxiv_id(paper_id)
    except InvalidArxivId:
        raise HTTPException(404, f"{paper_id!r} is not an arXiv identifier") from None
    paper = catalog.get_paper(conn, canonical)
    if paper is None:
        raise HTTPException(404, f"No paper {canonical} here yet")
    text = paper_markdown(paper, catalog.features_of(conn, canonical), linked_of(conn, canonical))
    # nosniff: upstream text must never be taken for HTML by a browser opening the file.
    return Response(text, media_type="text/markdown; charset=utf-8",
                    headers={"X-Content-Type-Options": "nosniff"})


@router.get("/papers/{paper_id:path}", response_class=HTMLResponse, include_in_schema=False)
def paper_page(request: Request, conn: ConnDep, paper_id: str) -> HTMLResponse:
    try:
        canonical, _version = split_arxiv_id(paper_id)
    except InvalidArxivId:
        raise HTTPException(404, f"{paper_id!r} is not an arXiv identifier") from None
    if canonical != paper_id:
        return RedirectResponse(f"/papers/{canonical}", status_code=308)  # type: ignore[return-value]
    paper = catalog.get_paper(conn, canonical)
    if paper is None:
        raise HTTPException(404, f"No paper {canonical} here yet")
    features = catalog.features_of(conn, canonical)
    return render(request, "paper.html", paper=paper, features=features,
                  similar=_similar(request, conn, canonical),
                  linked=linked_sections(linked_of(conn, canonical)),
                  last_updated=catalog.last_updated(conn), canonical=f"/papers/{canonical}")


def _similar(request: Request, conn: ConnDep, paper_id: str, k: int = 6) -> list[dict]:  # type: ignore[type-arg]
    """Nearest papers by embedding; nothing while this paper has no vector yet."""
    try:
        neighbours = request.app.state.search.similar(paper_id, k)
    except Exception:  # the model or index unavailable must not take the paper page down
        log.exception("similar papers unavailable")
        return []
    rows = catalog.papers_by_ids(conn, [pid for pid, _ in neighbours])
    return [rows[pid] for pid, _ in neighbours if pid in rows]


def _or_400(parse, text: str):  # type: ignore[no-untyped-def]
    try:
        return parse(text)
    except catalog.BadPeriod as exc:
        raise HTTPException(400, str(exc)) from None


def _listing(request: Request, conn: ConnDep, period: catalog.Period, sort: str | None) -> HTMLResponse:
    sort = _sort(sort)
    entries = catalog.entries_in(conn, period.start, period.end, sort=sort)
    if period.kind == "day":
        before, after = catalog.neighbour_days(conn, period.start)
        prev_link = f"/papers/date/{before.isoformat()}" if before else None
        next_link = f"/papers/date/{after.isoformat()}" if after else None
    else:
        prev_p, next_p = period.previous(), period.next()
        prev_link = (f"/papers/{period.kind}/{prev_p.label}"
                     if catalog.period_has_entries(conn, prev_p) or entries else None)
        next_link = (f"/papers/{period.kind}/{next_p.label}"
                     if catalog.period_has_entries(conn, next_p) else None)
    return render(
        request, "listing.html", period=period, entries=entries, sort=sort,
        sort_labels=SORT_LABELS, prev_link=prev_link, next_link=next_link,
        week_label=catalog.week_period(period.start).label,
        month_label=catalog.month_period(period.start).label,
        last_updated=catalog.last_updated(conn),
        canonical=f"/papers/{'date' if period.kind == 'day' else period.kind}/{period.label}",
    )
