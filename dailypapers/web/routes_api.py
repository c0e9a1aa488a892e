"""The JSON API that Hugging Face's clients read: same paths, parameters and shapes."""

from __future__ import annotations

import base64
import binascii

from fastapi import APIRouter, Request

from dailypapers import catalog
from dailypapers.ids import InvalidArxivId, split_arxiv_id
from dailypapers.ingest.linked import linked_of
from dailypapers.web.api_schemas import ok_response
from dailypapers.web.deps import ConnDep, api_error, public_url
from dailypapers.web.hf_shapes import daily_item_json, paper_info_json, paper_json
from dailypapers.web.params import (
    NO_CONTROL_CHARACTERS,
    BadParam,
    api_doc,
    day_doc,
    int_doc,
    int_param,
    month_doc,
    query_doc,
    text_param,
    week_doc,
)
from dailypapers.web.json_response import JSONResponse
from dailypapers.web.request_reads import AppRoute
from dailypapers.web.entries_cache import period_entries

router = APIRouter(prefix="/api", route_class=AppRoute)

# huggingface.co's values, and ours for the same orders.
_API_SORTS = {"publishedAt": "newest", "trending": "trending", "upvotes": "upvotes"}
MAX_LIMIT = 100
MAX_PAGE = 1_000_000  # p·limit must stay a 64-bit SQL OFFSET
DEFAULT_LIMIT = 50
MAX_SUBMITTER = 200  # text_param's default

# OpenAPI cannot say "at most one of these three"; a request naming two is a 400. Only date
# has a parameter example: Swagger UI's "Try it out" fills those in, and all three is a 400.
_ONE_PERIOD = "At most one of date, week and month; none means the latest featured papers."
_DAILY_DOC = api_doc(
    day_doc("date", f"Papers featured on this day. {_ONE_PERIOD}", example="2026-03-31"),
    week_doc("week", f"Papers featured in this week. {_ONE_PERIOD}"),
    month_doc("month", f"Papers featured in this month. {_ONE_PERIOD}"),
    query_doc("sort", "Order: publishedAt (newest first), trending (upvotes decaying with the "
              "time since featured) or upvotes (most first).", enum=list(_API_SORTS),
              default="publishedAt"),
    query_doc("submitter", "Only papers submitted to Daily Papers by this Hugging Face user "
              "(exact name; no control characters).", maxLength=MAX_SUBMITTER,
              pattern=NO_CONTROL_CHARACTERS, examples=["akhaliq"]),
    int_doc("p", "Page number, from 0; a Link header (rel=\"next\") gives the next page when "
            "there is one", 0, 0, MAX_PAGE),
    int_doc("limit", "Papers per page", DEFAULT_LIMIT, 1, MAX_LIMIT),
    ok={**ok_response("Featured papers, in the order asked.", "DailyItem", array=True),
        "headers": {"Link": {"description": "<URL of the next page>; rel=\"next\", when more "
                             "papers follow (built on DAILYPAPERS_BASE_URL).",
                             "schema": {"type": "string"}}}},
)


@router.get("/daily_papers", **_DAILY_DOC)
def daily_papers(request: Request, conn: ConnDep) -> JSONResponse:
    """Featured papers; ``date``, ``week`` or ``month`` (one at most), paged by ``p``/``limit``."""
    params = request.query_params
    try:
        page = int_param(params, "p", 0, 0, MAX_PAGE)
        limit = int_param(params, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
        sort_raw = params.get("sort") or "publishedAt"
        if sort_raw not in _API_SORTS:
            raise BadParam(f"sort must be one of {', '.join(_API_SORTS)}, got {sort_raw!r}")
        sort = _API_SORTS[sort_raw]
        given = [name for name in ("date", "week", "month") if params.get(name)]
        if len(given) > 1:
            raise BadParam(f"use only one of date, week and month (got {' and '.join(given)})")
        submitter = text_param(params, "submitter", MAX_SUBMITTER)
        if given:
            name = given[0]
            period = {
                "date": lambda t: catalog.day_period(catalog.parse_day(t)),
                "week": catalog.parse_week,
                "month": catalog.parse_month,
            }[name](params[name])
            entries = period_entries(request, conn, period.start, period.end, sort=sort,
                                     submitter=submitter)
            window = entries[page * limit: page * limit + limit + 1]
        else:
            window = catalog.latest_entries(conn, sort=sort, limit=limit + 1,
                                            offset=page * limit, submitter=submitter)
    except (BadParam, catalog.BadPeriod) as exc:
        return api_error(400, str(exc))
    headers = {}
    if len(window) > limit:
        query = dict(params)
        query["p"] = str(page + 1)
        headers["Link"] = f'<{public_url(request, "/api/daily_papers", query)}>; rel="next"'
    return JSONResponse([daily_item_json(e) for e in window[:limit]], headers=headers)


_CURSOR_PREFIX = "p1:"  # a version, so the cursor's meaning can change without misreading old ones
_PAPERS_DOC = api_doc(
    query_doc("cursor", "Where the previous page ended: copy it from that page's Link header "
              "(rel=\"next\"); opaque. Absent: the first page.", maxLength=200),
    int_doc("limit", "Papers per page", DEFAULT_LIMIT, 1, MAX_LIMIT),
    ok=ok_response("Papers, newest first.", "Paper", array=True),
)


def encode_cursor(paper_id: str) -> str:
    raw = (_CURSOR_PREFIX + paper_id).encode()
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_cursor(text: str) -> str:
    """The paper id a cursor names; BadParam for anything this API did not hand out."""
    bad = BadParam("cursor is not one this API gave out: take it from the Link header")
    if len(text) > 200:
        raise bad
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode("utf-8")
    except (binascii.Error, ValueError):
        raise bad from None
    if not raw.startswith(_CURSOR_PREFIX):
        raise bad
    paper_id = raw[len(_CURSOR_PREFIX):]
    try:
        if split_arxiv_id(paper_id) != (paper_id, None):
            raise bad
    except InvalidArxivId:
        raise bad from None
    return paper_id


def _next_page_link(request: Request, **changes: str) -> str:
    """``<this URL with changes>; rel="next"``, on the configured base URL (never the Host)."""
    query = {**request.query_params, **changes}
    return f'<{public_url(request, request.url.path, query)}>; rel="next"'


@router.get("/papers", **_PAPERS_DOC)
def list_papers(request: Request, conn: ConnDep) -> JSONResponse:
    """Every paper, newest first (arXiv id order), page by page with an opaque ``cursor``."""
    params = request.query_params
    try:
        limit = int_param(params, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
        cursor = params.get("cursor")
        after = decode_cursor(cursor) if cursor else None
    except BadParam as exc:
        return api_error(400, str(exc))
    rows = catalog.papers_newest_first(conn, after, limit + 1)
    page = rows[:limit]
    features = catalog.latest_features(conn, [p["id"] for p in page])
    body = [{**paper_json(p, features.get(p["id"])),
             "numComments": catalog.total_comments(p["num_comments"], p)}
            for p in page]
    headers = {}
    if len(rows) > limit:
        headers["Link"] = _next_page_link(request, cursor=encode_cursor(page[-1]["id"]))
    return JSONResponse(body, headers=headers)


@router.get("/papers/{paper_id:path}",
            **api_doc(ok=ok_response("The paper.", "PaperInfo"),
                      not_found="No such paper, or the id is not an arXiv identifier."))
def paper_info(paper_id: str, conn: ConnDep) -> JSONResponse:
    """One paper by arXiv id (``2401.12345``, with or without a version); no query parameters."""
    try:
        canonical, _version = split_arxiv_id(paper_id)
    except InvalidArxivId:
        return api_error(404, f"Paper {paper_id!r} not found: not an arXiv identifier")
    paper = catalog.get_paper(conn, canonical)
    if paper is None:
        return api_error(404, f"Paper {canonical} not found")
    return JSONResponse(paper_info_json(paper, catalog.features_of(conn, canonical),
                                        linked_of(conn, canonical)))
