"""Submitting a paper: the page /submit (a form, no JavaScript needed) and
``POST /api/v1/submissions`` (a personal API token).

Thin: the rules live in community/submissions.py. A refused or failed form answers with the form
again, its input kept and the reason shown; the API answers ``{"error": "…"}`` with the status
the refusal names (409 adds ``paper``, the featured paper's address)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy.engine import Connection

from dailypapers.community import submissions as subs
from dailypapers.community.sessions import touch_api_token
from dailypapers.settings import Settings
from dailypapers.sync.http import PoliteClient
from dailypapers.web.deps import (
    AUTH_RESPONSES, CsrfDep, RequireUser, User, client_address, public_url, rate_limit, render,
)
from dailypapers.web.params import ApiError
from dailypapers.web.json_response import JSONResponse
from dailypapers.web.request_reads import AppRoute

router = APIRouter(route_class=AppRoute)

UNAVAILABLE = ("arXiv is not answering right now, so the paper could not be fetched. Nothing "
               "was stored; try again in a few minutes.")


def now_of(request: Request) -> dt.datetime:
    """The app's clock (``app.state.clock``, UTC): tests set it to a day of the recorded data."""
    return request.app.state.clock()


def arxiv_client(request: Request) -> PoliteClient:
    """One polite client per app, so its pause between two arXiv requests holds across
    submissions; fewer retries than a sync, since someone is waiting."""
    client = getattr(request.app.state, "arxiv_client", None)
    if client is None:
        settings: Settings = request.app.state.settings
        capped = settings.model_copy(update={
            "sync_max_retries": min(settings.sync_max_retries, subs.FETCH_RETRIES)})
        client = request.app.state.arxiv_client = PoliteClient(
            capped, backoff_base=settings.sync_backoff_seconds)
    return client


def _limit(request: Request, user: User) -> None:
    settings: Settings = request.app.state.settings
    rate_limit(request, settings.ratelimit_submit_per_ip, "submit", client_address(request))
    rate_limit(request, settings.ratelimit_submit_per_user, "submit-user", str(user.id))


def _submit(request: Request, user: User, arxiv_id: str, comment: str | None) -> subs.Accepted:
    token = getattr(request.state, "api_token", None)  # (id, last used) when the API was used

    def stamp_token(conn: Connection) -> None:
        if token:
            touch_api_token(conn, *token)

    return subs.submit_paper(request.app.state.engine, request.app.state.settings, user,
                             arxiv_id, comment, now_of(request), lambda: arxiv_client(request),
                             also=stamp_token)


# --- the page ----------------------------------------------------------------------------------


def _form(request: Request, status: int = 200, *, form: dict[str, str] | None = None,
          error: str = "", featured: str | None = None) -> HTMLResponse:
    settings: Settings = request.app.state.settings
    return render(request, "submit.html", status, form=form or {}, error=error, featured=featured,
                  max_age_days=f"{settings.submit_max_age_days:g}",
                  max_note=subs.MAX_NOTE_CHARS, nav="submit")


@router.get("/submit", response_class=HTMLResponse, include_in_schema=False)
def submit_page(request: Request, user: RequireUser) -> HTMLResponse:
    return _form(request)


@router.post("/submit", response_class=HTMLResponse, include_in_schema=False)
def submit_form(request: Request, _csrf: CsrfDep, user: RequireUser,
                arxiv_id: Annotated[str, Form()] = "",
                comment: Annotated[str, Form()] = "") -> Response:
    _limit(request, user)
    kept = {"arxiv_id": arxiv_id, "comment": comment}
    try:
        accepted = _submit(request, user, arxiv_id, comment)
    except subs.Refused as exc:
        response = _form(request, exc.status, form=kept, error=exc.message,
                         featured=exc.featured)
        if exc.retry_after:
            response.headers["Retry-After"] = str(exc.retry_after)
        return response
    except subs.ArxivUnavailable:
        return _form(request, 503, form=kept, error=UNAVAILABLE)
    return RedirectResponse(f"/papers/date/{accepted.day.isoformat()}", status_code=303)


# --- the API -----------------------------------------------------------------------------------


class SubmissionIn(BaseModel):
    id: str = Field(max_length=subs.MAX_ID_CHARS, description="arXiv identifier or URL",
                    examples=["2502.06628", "https://arxiv.org/abs/2502.06628v1"])
    comment: str | None = Field(default=None, max_length=subs.MAX_NOTE_CHARS,
                                description="Optional, plain text, shown on your user page")


_SUBMITTED = {
    "type": "object",
    "required": ["id", "title", "day", "submittedBy", "url"],
    "properties": {
        "id": {"type": "string"}, "title": {"type": "string"},
        "day": {"type": "string", "description": "the (UTC) day whose list it joined"},
        "submittedBy": {"type": "string"}, "url": {"type": "string"},
        "fetchedFromArxiv": {"type": "boolean"},
    },
}


@router.post(
    "/api/v1/submissions", status_code=201, summary="Submit a paper to today's list",
    responses={
        201: {"description": "Submitted: the paper is on today's (UTC) list with you as its "
                             "submitter.", "content": {"application/json": {"schema": _SUBMITTED}}},
        400: {"model": ApiError, "description": "Not an arXiv identifier or URL, or a bad body."},
        **AUTH_RESPONSES,
        409: {"model": ApiError, "description": "Already featured; `paper` is its address."},
        422: {"model": ApiError, "description": "arXiv has no such paper, or its first version "
                                                "is older than DAILYPAPERS_SUBMIT_MAX_AGE_DAYS."},
        429: {"model": ApiError, "description": "Today's allowance used up, or too many "
                                                "attempts (`Retry-After`)."},
        503: {"model": ApiError, "description": "arXiv is not answering; nothing was stored."},
    },
    openapi_extra={"security": [{"apiToken": []}]},
)
def api_submit(request: Request, body: SubmissionIn, user: RequireUser) -> JSONResponse:
    """Put an arXiv paper on today's (UTC) list, fetching it from arXiv when it is new here.
    Needs ``Authorization: Bearer <personal API token>``."""
    _limit(request, user)
    try:
        accepted = _submit(request, user, body.id, body.comment)
    except subs.Refused as exc:
        payload: dict[str, Any] = {"error": exc.message}
        if exc.link:
            payload["paper"] = public_url(request, exc.link)
        headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after else None
        return JSONResponse(payload, status_code=exc.status, headers=headers)
    except subs.ArxivUnavailable:
        return JSONResponse({"error": UNAVAILABLE}, status_code=503)
    return JSONResponse({
        "id": accepted.paper_id, "title": accepted.title, "day": accepted.day.isoformat(),
        "submittedBy": user.username, "url": public_url(request, f"/papers/{accepted.paper_id}"),
        "fetchedFromArxiv": accepted.fetched,
    }, status_code=201)
