"""Upvotes from the pages (a form button, no JavaScript) and from /api/v1 (a Bearer token), the
paper with both of its counts at /api/v1/papers/{id}, and the page "How trending works".

Thin: the rules live in community/votes.py and rank/.

Writes wait for ``deps.write_gate`` on the event loop, then run in one threadpool thread (lock
and work in the same thread: ``_write``); the API vote checks its token inside the vote's own
transaction."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.engine import Connection

from dailypapers import catalog
from dailypapers.community.sessions import touch_api_token, user_for_api_token
from dailypapers.community.votes import UnknownPaper, VoteState, toggle_vote, vote_by_token
from dailypapers.db.engine import retry_on_disconnect, write_transaction
from dailypapers.ids import InvalidArxivId, split_arxiv_id
from dailypapers.rank.trending import (
    EPOCH, TrendingParams, featured_at, trending_points, trending_score,
)
from dailypapers.web.deps import (
    ConnDep, CsrfDep, RequireUser, api_error, client_address, rate_limit, render, safe_next,
    write_gate,
)
from dailypapers.web.json_response import JSONResponse
from dailypapers.web.request_reads import AppRoute

router = APIRouter(route_class=AppRoute)
T = TypeVar("T")


def _write(request: Request, work: Callable[[Connection], T]) -> T:
    """``work`` in one write transaction, committed before the answer; the caller holds
    ``write_gate``. SQLite's waiting writers used to poll with growing sleeps (up to 100 ms): 32
    clients voting left most of them asleep while the lock was free (p99 ~1 s); the gate wakes
    the next one the moment the lock is free."""
    engine = request.app.state.engine
    # DAILYPAPERS_VOTE_SYNCHRONOUS_COMMIT=false: the WAL flush was a vote's longest wait
    # under bench/load.py (p50 40 -> 35 ms, p99 133 -> 110 ms in one pair of runs).
    wait_for_disk = request.app.state.settings.vote_synchronous_commit

    def attempt() -> T:
        with write_transaction(engine, changes="votes", wait_for_disk=wait_for_disk) as conn:
            result = work(conn)
            found = getattr(request.state, "api_token", None)
            if found:
                touch_api_token(conn, *found)
        return result

    # The pool no longer tests each connection before use (db/engine.py): a vote on one that
    # died (the database restarted) is tried once more, on a fresh one.
    return retry_on_disconnect(attempt)


async def _in_turn(request: Request, function: Callable[..., T], *args: Any) -> T:
    async with write_gate(request):
        return await run_in_threadpool(function, *args)


_VOTE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "The vote's state and the paper's counts: `voted`, `changed`, "
                         "`upvotes` (total), `upvotesHuggingFace`, `upvotesLocal`."},
    401: {"description": "No valid API token (`Authorization: Bearer <token>`)."},
    404: {"description": "No such paper."},
    429: {"description": "Too many votes from this address or account "
                         "(DAILYPAPERS_RATELIMIT_VOTE_*); nothing changed.",
          "headers": {"Retry-After": {"description": "Seconds to wait",
                                      "schema": {"type": "integer"}}}},
}


def _limit_address(request: Request) -> None:
    """Count a vote against the client address's limit (raises RateLimited: a 429)."""
    rate_limit(request, request.app.state.settings.ratelimit_vote_per_ip, "vote",
               client_address(request))


def _limit_user(request: Request, user_id: int) -> None:
    rate_limit(request, request.app.state.settings.ratelimit_vote_per_user, "vote-user",
               str(user_id))


def _params(request: Request) -> TrendingParams:
    return TrendingParams.from_settings(request.app.state.settings)


def _canonical(paper_id: str) -> str | None:
    try:
        return split_arxiv_id(paper_id)[0]
    except InvalidArxivId:
        return None


def _safe_next(value: Any, fallback: str) -> str:
    """Only a path of this site (deps.safe_next: never //host, /\\host or a scheme)."""
    return safe_next(value if isinstance(value, str) and value.isprintable() else None, fallback)


@router.post("/papers/{paper_id:path}/vote", include_in_schema=False)
async def vote_form(request: Request, paper_id: str, _csrf: CsrfDep,
                    user: RequireUser) -> Response:
    """The card's button: add the vote, or take it back; then back to the page it was on."""
    canonical = _canonical(paper_id)
    if canonical is None:
        return render(request, "error.html", 404, title="Not found",
                      message=f"Paper {paper_id!r} not found: not an arXiv identifier")
    form = await request.form()
    back = _safe_next(form.get("next"), f"/papers/{canonical}")
    params = _params(request)

    def limited_toggle() -> VoteState:
        _limit_address(request)
        _limit_user(request, user.id)
        return _write(request, lambda conn: toggle_vote(conn, user.id, canonical, params))

    try:
        await _in_turn(request, limited_toggle)
    except UnknownPaper:
        return render(request, "error.html", 404, title="Not found",
                      message=f"Paper {canonical} not found")
    return RedirectResponse(back, status_code=303)


def _vote_json(state: VoteState) -> dict[str, Any]:
    return {"id": state.paper_id, "voted": state.voted, "changed": state.changed,
            "upvotes": state.total, "upvotesHuggingFace": state.imported,
            "upvotesLocal": state.local}


class _NoUser(Exception):
    """No valid API token: roll back (nothing was written) and answer 401."""


def _bearer(request: Request) -> str:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


def _api_vote(request: Request, paper_id: str, on: bool) -> JSONResponse:
    """The token is checked inside the vote's own transaction (one connection, one thread hop):
    a vote is a few small statements, so a separate read transaction for the token was a
    third of its database time (0.6 of 1.4 ms measured)."""
    token, params = _bearer(request), _params(request)
    canonical = _canonical(paper_id)

    def work(conn: Connection) -> VoteState | None:
        found = vote_by_token(conn, token, canonical, on, params) if canonical else \
            (user_for_api_token(conn, token), None)
        if found is None or found[0] is None:
            raise _NoUser
        # The user is known only now (on PostgreSQL the vote is written by then): past the
        # limit, RateLimited rolls the vote back.
        _limit_user(request, found[0].user.id)
        return found[1]

    try:
        _limit_address(request)
        state = _write(request, work)
    except _NoUser:
        return api_error(401, "sign in required: send Authorization: Bearer <API token> "
                              "(create one on /account)", headers={"WWW-Authenticate": "Bearer"})
    except UnknownPaper:
        return api_error(404, f"Paper {canonical} not found")
    if state is None:
        return api_error(404, f"Paper {paper_id!r} not found: not an arXiv identifier")
    return JSONResponse(_vote_json(state))


@router.post("/api/v1/papers/{paper_id:path}/vote", responses=_VOTE_RESPONSES)
async def api_vote(request: Request, paper_id: str) -> JSONResponse:
    """Upvote a paper (idempotent: voting twice keeps one vote). Needs
    ``Authorization: Bearer <personal API token>``."""
    return await _in_turn(request, _api_vote, request, paper_id, True)


@router.delete("/api/v1/papers/{paper_id:path}/vote", responses=_VOTE_RESPONSES)
async def api_unvote(request: Request, paper_id: str) -> JSONResponse:
    """Take an upvote back (idempotent). Needs ``Authorization: Bearer <personal API token>``."""
    return await _in_turn(request, _api_vote, request, paper_id, False)


@router.get("/api/v1/papers/{paper_id:path}", responses={
    200: {"description": "`id`, `title`, `upvotes` (total), `upvotesHuggingFace`, "
                         "`upvotesLocal`, `numComments`, and per feature day its stored "
                         "`trendingScore`."},
    404: {"description": "No such paper."}})
def api_paper(paper_id: str, conn: ConnDep) -> JSONResponse:
    """One paper with its imported and local counts apart."""
    canonical = _canonical(paper_id)
    paper = catalog.get_paper(conn, canonical) if canonical else None
    if paper is None:
        return api_error(404, f"Paper {paper_id!r} not found")
    return JSONResponse({
        "id": paper["id"], "title": paper["title"],
        "upvotes": catalog.total_upvotes(paper), "upvotesHuggingFace": paper["upvotes"],
        "upvotesLocal": paper["local_upvotes"],
        "numComments": catalog.total_comments(paper["num_comments"], paper),
        "featured": [{"day": f["day"].isoformat(), "trendingScore": f["trending_score"]}
                     for f in catalog.features_of(conn, canonical)],
    })


@router.get("/about/trending", response_class=HTMLResponse, include_in_schema=False)
def about_trending(request: Request, conn: ConnDep, paper: str | None = None) -> HTMLResponse:
    """The formula, its settings, and one paper's inputs and score (``?paper=`` or the top one
    of the latest day)."""
    params = _params(request)
    entry = None
    day = catalog.latest_day(conn)
    if paper:
        canonical = _canonical(paper)
        features = catalog.features_of(conn, canonical) if canonical else []
        row = catalog.get_paper(conn, canonical) if features else None
        if row is not None:
            entry = catalog.Entry(row, features[0])
    elif day is not None:
        top = catalog.entries_in(conn, day, catalog.day_period(day).end, sort="trending")
        entry = top[0] if top else None
    example = None
    if entry is not None:
        p, f = entry.paper, entry.feature
        when = featured_at(f["day"], f["submitted_on_daily_at"])
        comments = catalog.total_comments(p["num_comments"], p)
        example = {
            "paper": p, "day": f["day"], "featured_at": when,
            "imported": p["upvotes"], "local": p["local_upvotes"], "comments": comments,
            "points": trending_points(catalog.total_upvotes(p), comments, params),
            "hours": (when - EPOCH).total_seconds() / 3600.0,
            "score": trending_score(catalog.total_upvotes(p), comments, when, params),
            "stored": f.get("trending_score"),
        }
    return render(request, "about_trending.html", params=params, example=example,
                  canonical="/about/trending")
