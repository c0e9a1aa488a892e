"""Search surfaces: the /search page, Hugging Face's /api/papers/search and our /api/v1/search."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from dailypapers import catalog
from dailypapers.index.keyword import SearchFilters
from dailypapers.index.query import ParsedQuery, QueryError, parse_query
from dailypapers.index.search import MODES, SearchResults, SearchService
from dailypapers.web import feeds
from dailypapers.web.api_schemas import ok_response
from dailypapers.web.deps import ConnDep, api_error, public_url, render
from dailypapers.web.hf_shapes import item_json
from dailypapers.index.highlight import highlight
from dailypapers.web.limits import LimitedRoute
from dailypapers.web.mathtext import wrap_math
from dailypapers.web.params import (
    ApiError,
    BadParam,
    api_doc,
    bool_doc,
    day_doc,
    int_doc,
    int_param,
    query_doc,
)
from dailypapers.web.json_response import JSONResponse
from dailypapers.web.version_memo import hidden_paper_ids, last_updated

# Every route here searches: at most DAILYPAPERS_SEARCH_CONCURRENCY run at once (web/limits.py).
router = APIRouter(route_class=LimitedRoute)

SORTS = ("relevance", "newest", "upvotes")
PAGE_SIZE = 20
HF_MAX_LIMIT = 120
V1_MAX_LIMIT = 100
HF_DEFAULT_LIMIT = 50
HF_MAX_QUERY = 250
V1_MAX_OFFSET = 10_000
_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}


_SYNTAX = ("Words (any may match), \"exact phrases\", -exclusions, the filters author:, cat:, "
           "year: and has:code, or an arXiv id or URL.")
# The parameters both search APIs read through filters_from() and _run().
_SEARCH_DOCS = (
    query_doc("sort", "Order of the results.", enum=list(SORTS), default="relevance"),
    query_doc("mode", "Ranking: hybrid fuses keyword (BM25) and dense (embedding) ranks; keyword "
              "or dense uses one alone.", enum=list(MODES), default="hybrid"),
    day_doc("date_from", "Only papers dated on or after this day,", example="2026-03-01"),
    day_doc("date_to", "Only papers dated on or before this day (not before date_from),",
            example="2026-03-31"),
    query_doc("category", "Only papers in this arXiv category (cs.CL), or any category of an "
              "archive (cs).", example="cs.CL"),
    bool_doc("has_code", "true: only papers with a code repository; false: only papers "
             "without; absent: both."),
    bool_doc("featured", "Only papers featured on Daily Papers.", default=False),
)
_HF_SEARCH_DOC = api_doc(
    query_doc("q", f"Search text; only its first {HF_MAX_QUERY} characters are used. {_SYNTAX} "
              "An unknown filter is searched as words.", example="diffusion"),
    int_doc("limit", "Results", HF_DEFAULT_LIMIT, 1, HF_MAX_LIMIT),
    *_SEARCH_DOCS,
    ok=ok_response("The best matches first.", "DailyItem", array=True),
)
_V1_SEARCH_DOC = api_doc(
    query_doc("q", f"Search text. {_SYNTAX} An unknown filter (foo:bar) is a 400.",
              example="diffusion"),
    int_doc("limit", "Results per page", PAGE_SIZE, 1, V1_MAX_LIMIT),
    int_doc("offset", "Results to skip; the answer's \"next\" is the next page's URL",
            0, 0, V1_MAX_OFFSET),
    *_SEARCH_DOCS,
    ok=ok_response("One page of results, with highlights and the next page's URL.",
                   "SearchPage"),
)
# Both search APIs share this process's bounded search slots (web/limits.py).
for _doc in (_HF_SEARCH_DOC, _V1_SEARCH_DOC):
    _doc["responses"][503] = {
        "model": ApiError,
        "description": "Too many searches at once: try again after the Retry-After seconds.",
        "headers": {"Retry-After": {"schema": {"type": "integer"},
                                    "description": "Seconds to wait before trying again."}},
    }


def _service(request: Request) -> SearchService:
    return request.app.state.search


def _bool(params: Any, name: str) -> bool | None:
    raw = (params.get(name) or "").lower()
    if raw == "":
        return None
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise QueryError(f"{name} must be true or false, got {raw[:40]!r}")


def _day(params: Any, name: str) -> dt.date | None:
    raw = params.get(name)
    if not raw:
        return None
    try:
        return catalog.parse_day(raw)
    except catalog.BadPeriod as exc:
        raise QueryError(f"{name}: {exc}") from None


def _choice(params: Any, name: str, options: tuple[str, ...], default: str) -> str:
    value = params.get(name) or default
    if value not in options:
        raise QueryError(f"{name} must be one of {', '.join(options)}, got {value[:40]!r}")
    return value


def filters_from(params: Any) -> SearchFilters:
    date_from, date_to = _day(params, "date_from"), _day(params, "date_to")
    if date_from and date_to and date_from > date_to:
        raise QueryError("date_from is after date_to")
    category = (params.get("category") or "").strip() or None
    return SearchFilters(date_from=date_from, date_to=date_to, category=category,
                         has_code=_bool(params, "has_code"),
                         featured_only=bool(_bool(params, "featured")))


def _run(request: Request, conn: ConnDep, q: str, *, limit: int, offset: int,
         strict: bool) -> SearchResults:
    params = request.query_params
    # Hidden papers are left out inside the search, so totals and pages count only what shows.
    filters = dataclasses.replace(filters_from(params), hidden_ids=hidden_paper_ids(request, conn))
    return _service(request).search(
        q, limit=limit, offset=offset, filters=filters,
        sort=_choice(params, "sort", SORTS, "relevance"),
        mode=_choice(params, "mode", MODES, "hybrid"), strict=strict,
    )


def _rows(conn: ConnDep, results: SearchResults) -> list[tuple[Any, dict, dict | None]]:  # type: ignore[type-arg]
    ids = [h.paper_id for h in results.hits]
    rows = catalog.papers_by_ids(conn, ids)
    features = catalog.latest_features(conn, ids)
    return [(h, rows[h.paper_id], features.get(h.paper_id)) for h in results.hits if h.paper_id in rows]


def _highlight(results: SearchResults, paper: dict):  # type: ignore[no-untyped-def,type-arg]
    query = results.query
    if results.out_of_time():  # the budget is spent: the same snippet, nothing marked
        results.cut_short("highlighting")
        query = ParsedQuery()
    return highlight(query, title=paper["title"], abstract=paper["abstract"],
                     authors=[a["name"] for a in paper["authors"]])


@router.get("/api/papers/search", **_HF_SEARCH_DOC)
def hf_search(request: Request, conn: ConnDep) -> JSONResponse:
    """Hugging Face's paper search: ``q`` (up to 250 characters kept) and ``limit`` (1–120)."""
    params = request.query_params
    try:
        limit = int_param(params, "limit", HF_DEFAULT_LIMIT, 1, HF_MAX_LIMIT)
        results = _run(request, conn, (params.get("q") or "")[:HF_MAX_QUERY], limit=limit,
                       offset=0, strict=False)
    except (QueryError, BadParam) as exc:
        return api_error(400, str(exc))
    return JSONResponse([item_json(paper, feature) for _, paper, feature in _rows(conn, results)])


@router.get("/api/v1/search", **_V1_SEARCH_DOC)
def v1_search(request: Request, conn: ConnDep) -> JSONResponse:
    """Our search: ``{"data": [{"paper", "score", "highlights"}], "count", "next"}``."""
    params = request.query_params
    try:
        limit = int_param(params, "limit", PAGE_SIZE, 1, V1_MAX_LIMIT)
        offset = int_param(params, "offset", 0, 0, V1_MAX_OFFSET)
        results = _run(request, conn, params.get("q") or "", limit=limit, offset=offset,
                       strict=True)
    except (QueryError, BadParam) as exc:
        return api_error(400, str(exc))
    data = []
    for hit, paper, feature in _rows(conn, results):
        marked = _highlight(results, paper)
        data.append({
            "paper": item_json(paper, feature)["paper"],
            "score": round(hit.score, 6),
            "ranks": {"keyword": hit.keyword_rank, "dense": hit.dense_rank},
            "highlights": {"title": marked.title, "abstract": marked.abstract,
                           "authors": marked.authors},
        })
    next_url = None
    if offset + limit < results.total and results.hits:
        query = dict(params)
        query["offset"] = str(offset + limit)
        next_url = public_url(request, "/api/v1/search", query)
    return JSONResponse({"data": data, "count": results.total, "next": next_url,
                         "mode": results.mode, "warnings": results.warnings})


def _feedable(q: str) -> bool:
    """Whether the search feed takes this query: it reads it strictly, as /api/v1/search does
    (the page searches an unknown ``foo:`` as words)."""
    try:
        parse_query(q, strict=True)
    except QueryError:
        return False
    return True


@router.get("/search", response_class=HTMLResponse, include_in_schema=False)
def search_page(request: Request, conn: ConnDep) -> HTMLResponse:
    params = request.query_params
    q = params.get("q") or ""
    context: dict[str, Any] = {"q": q, "params": params, "results": None, "error": None,
                               "rows": [], "last_updated": last_updated(request, conn),
                               "feeds": feeds.search_links(params) if _feedable(q) else []}
    try:
        page = int_param(params, "page", 1, 1, 500)
        if q.strip() or any(params.get(k) for k in ("category", "date_from", "date_to", "has_code")):
            results = _run(request, conn, q, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE,
                           strict=False)
            rows = []
            for hit, paper, feature in _rows(conn, results):
                marked = _highlight(results, paper)
                rows.append({"hit": hit, "paper": paper, "feature": feature,
                             "title": wrap_math(marked.title), "abstract": wrap_math(marked.abstract)})
            context.update(results=results, rows=rows, page=page,
                           pages=max(1, -(-min(results.total, 10_000) // PAGE_SIZE)))
    except (QueryError, BadParam) as exc:
        context.update(error=str(exc), feeds=[])  # no feed of a search that is refused
        return render(request, "search.html", 400, **context)

    def page_url(n: int) -> str:
        query = {k: v for k, v in params.items() if k != "page"}
        query["page"] = str(n)
        return "/search?" + urlencode(query)

    context["page_url"] = page_url
    return render(request, "search.html", **context)
