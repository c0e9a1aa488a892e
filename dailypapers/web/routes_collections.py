"""Collections: the pages (a collection, the owner's list, the add/remove form on every card and
paper page, all plain forms without JavaScript) and ``/api/v1/collections`` (a Bearer token).

Thin: the rules live in community/collections.py. A private collection is a 404 to everyone but
its owner, signed in or not, on the pages and in the API alike. Every POST carries the CSRF token
and writes in one write transaction; every change counts against
DAILYPAPERS_RATELIMIT_COLLECTIONS_PER_USER."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import jinja2
from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr
from sqlalchemy.engine import Connection

from dailypapers.community import collections as cs
from dailypapers.community.collections import Collection, CollectionError, Limits
from dailypapers.ids import InvalidArxivId, split_arxiv_id
from dailypapers.web.deps import (
    AUTH_RESPONSES, ApiError, ConnDep, CsrfDep, CurrentUser, RequireUser, User, api_error,
    rate_limit, render, request_reader, safe_next, write_in_request,
)
from dailypapers.web import feeds
from dailypapers.web.params import BadParam, int_doc, int_param
from dailypapers.web.json_response import JSONResponse
from dailypapers.web.request_reads import AppRoute

router = APIRouter(route_class=AppRoute)
T = TypeVar("T")
_MAX_PAGE = 10_000


def _limits(request: Request) -> Limits:
    return Limits.from_settings(request.app.state.settings)


def _count_write(request: Request, user: User) -> None:
    """One collection change by this user against the rate limit (429 past it)."""
    rate_limit(request, request.app.state.settings.ratelimit_collections_per_user,
               "collections", str(user.id))


def _write(request: Request, work: Callable[[Connection], T]) -> T:
    """``work`` in one write transaction; a CollectionError rolls it back (the inline form may
    have made a collection before the paper turned out unknown) and reaches the caller."""
    return write_in_request(request, work)


def _canonical(paper_id: str) -> str | None:
    try:
        return split_arxiv_id(paper_id)[0]
    except InvalidArxivId:
        return None


def _error_page(request: Request, exc: CollectionError) -> HTMLResponse:
    title = {404: "Not found", 409: "Limit reached"}.get(exc.status, "Bad request")
    return render(request, "error.html", exc.status, title=title, message=str(exc))


# --- template helpers: the form on cards and paper pages -------------------------------------


def _state(ctx: Any) -> tuple[Any, User | None]:
    request = ctx.get("request")
    user = ctx.get("current_user")
    return request, user if isinstance(user, User) else None


@jinja2.pass_context
def collect_choices(ctx: Any) -> list[Collection]:
    """The signed-in user's collections (read once per page)."""
    request, user = _state(ctx)
    if request is None or user is None:
        return []
    cached = getattr(request.state, "collect_choices", None)
    if cached is None:
        with request_reader(request) as conn:
            cached = request.state.collect_choices = cs.owned_by(conn, user.id)
    return cached


@jinja2.pass_context
def collect_holding(ctx: Any, paper_id: str) -> set[int]:
    """Which of the user's collections hold this paper. On a list the first call reads it for
    every card of the page (``entries``; search's ``rows``) in one query."""
    request, user = _state(ctx)
    if request is None or user is None:
        return set()
    known: dict[str, set[int]] = getattr(request.state, "collect_holding", None) or {}
    if paper_id not in known:
        ids = {paper_id}
        for entry in [*(ctx.get("entries") or ()), *(ctx.get("rows") or ())]:  # lists, search
            paper = entry.get("paper") if isinstance(entry, dict) else getattr(entry, "paper", None)
            if isinstance(paper, dict) and paper.get("id"):
                ids.add(paper["id"])
        with request_reader(request) as conn:
            known.update(cs.holding(conn, user.id, sorted(ids)))
        request.state.collect_holding = known
    return known.get(paper_id, set())


def install_template_globals(env: jinja2.Environment) -> None:
    env.globals.update(collect_choices=collect_choices, collect_holding=collect_holding,
                       collection_name_max=cs.NAME_MAX,
                       collection_description_max=cs.DESCRIPTION_MAX)


# --- pages -----------------------------------------------------------------------------------


def _page_number(raw: str | None) -> int:
    if raw is None or raw == "":
        return 1
    if not raw.isascii() or not raw.isdigit() or len(raw) > 6 or not 1 <= int(raw) <= _MAX_PAGE:
        raise CollectionError(f"invalid page {raw[:40]!r}: expected a number from 1 to "
                              f"{_MAX_PAGE}")
    return int(raw)


@router.get("/collections/{collection_id}", response_class=HTMLResponse,
            include_in_schema=False)
def collection_page(request: Request, conn: ConnDep, user: CurrentUser, collection_id: str,
                    page: str | None = None) -> HTMLResponse:
    """A collection's papers, the most recently added first, 30 a page."""
    number = cs.parse_id(collection_id)
    try:
        if number is None:
            raise cs.NotFound(f"Collection {collection_id[:40]!r} not found")
        collection = cs.get_visible(conn, number, user.id if user else None)
        current = _page_number(page)
        pages = cs.page_count(collection)
        if current > pages:
            raise cs.NotFound(f"No page {current}: there are {pages}")
    except CollectionError as exc:
        return _error_page(request, exc)
    base = f"/collections/{collection.id}"
    return render(request, "collection.html", collection=collection,
                  items=cs.items(conn, collection, current), page=current, pages=pages,
                  page_link=lambda n: base + (f"?page={n}" if n > 1 else ""),
                  is_owner=user is not None and user.id == collection.user_id,
                  canonical=base if collection.is_public else None,
                  # A private collection has no feed: a reader could not fetch it.
                  feeds=feeds.collection_links(collection.id, collection.name)
                  if collection.is_public else [])


@router.get("/collections", response_class=HTMLResponse, include_in_schema=False)
def my_collections(request: Request, conn: ConnDep, user: RequireUser) -> HTMLResponse:
    """The owner's list: create, rename, describe, make public or private, delete."""
    return render(request, "collections.html", collections=cs.owned_by(conn, user.id),
                  limits=_limits(request))


@router.post("/collections", include_in_schema=False)
def create_form(request: Request, _csrf: CsrfDep, user: RequireUser,
                name: Annotated[str, Form(max_length=1000)] = "",
                description: Annotated[str, Form(max_length=5000)] = "",
                public: Annotated[str, Form(max_length=10)] = "") -> Response:
    _count_write(request, user)
    try:
        made = _write(request, lambda conn: cs.create(
            conn, user.id, name, description, public == "on", limits=_limits(request)))
    except CollectionError as exc:
        return _error_page(request, exc)
    return RedirectResponse(f"/collections/{made.id}", status_code=303)


@router.post("/collections/{collection_id}/edit", include_in_schema=False)
def edit_form(request: Request, _csrf: CsrfDep, user: RequireUser,
              collection_id: str, name: Annotated[str, Form(max_length=1000)] = "",
              description: Annotated[str, Form(max_length=5000)] = "",
              public: Annotated[str, Form(max_length=10)] = "",
              next: Annotated[str, Form(max_length=2000)] = "") -> Response:
    """Rename, describe and set the visibility at once (the form shows the current values)."""
    _count_write(request, user)
    number = cs.parse_id(collection_id)
    try:
        if number is None:
            raise cs.NotFound(f"Collection {collection_id[:40]!r} not found")
        _write(request, lambda conn: cs.update(conn, user.id, number, name=name,
                                               description=description, public=public == "on"))
    except CollectionError as exc:
        return _error_page(request, exc)
    return RedirectResponse(safe_next(next, "/collections"), status_code=303)


@router.post("/collections/{collection_id}/delete", include_in_schema=False)
def delete_form(request: Request, _csrf: CsrfDep, user: RequireUser,
                collection_id: str) -> Response:
    _count_write(request, user)
    number = cs.parse_id(collection_id)
    try:
        if number is None:
            raise cs.NotFound(f"Collection {collection_id[:40]!r} not found")
        _write(request, lambda conn: cs.delete(conn, user.id, number))
    except CollectionError as exc:
        return _error_page(request, exc)
    return RedirectResponse("/collections", status_code=303)


@router.post("/papers/{paper_id:path}/collect", include_in_schema=False)
def collect_form(request: Request, _csrf: CsrfDep, user: RequireUser,
                 paper_id: str, action: Annotated[str, Form(max_length=10)] = "add",
                 collection_id: Annotated[str, Form(max_length=20)] = "",
                 new_name: Annotated[str, Form(max_length=1000)] = "",
                 next: Annotated[str, Form(max_length=2000)] = "") -> Response:
    """The card's and paper page's form: add to a chosen collection or to a new one named
    inline, or remove from the chosen one; then back to the page it was on."""
    canonical = _canonical(paper_id)
    try:
        if canonical is None:
            raise cs.UnknownPaper(f"Paper {paper_id[:80]!r} not found: not an arXiv identifier")
        if action not in ("add", "remove"):
            raise CollectionError("action must be add or remove")
        _count_write(request, user)
        limits = _limits(request)
        chosen = cs.parse_id(collection_id)
        inline = action == "add" and new_name.strip() != ""
        if chosen is None and not inline:
            raise CollectionError("choose a collection, or name a new one")

        def work(conn: Connection) -> None:
            target = cs.find_or_create(conn, user.id, new_name, limits=limits).id if inline \
                else chosen
            if action == "add":
                cs.add_paper(conn, user.id, target, canonical, limits=limits)
            else:
                cs.remove_paper(conn, user.id, target, canonical)

        _write(request, work)
    except CollectionError as exc:
        return _error_page(request, exc)
    return RedirectResponse(safe_next(next, f"/papers/{canonical}"), status_code=303)


# --- API -------------------------------------------------------------------------------------

_COLLECTION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["id", "name", "description", "public", "owner", "paperCount", "createdAt",
                 "updatedAt"],
    "properties": {
        "id": {"type": "integer"}, "name": {"type": "string"},
        "description": {"type": "string"}, "public": {"type": "boolean"},
        "owner": {"type": "string", "description": "The owner's username."},
        "paperCount": {"type": "integer", "minimum": 0},
        "createdAt": {"type": "string", "format": "date-time"},
        "updatedAt": {"type": "string", "format": "date-time"},
    },
}
_WITH_PAPERS: dict[str, Any] = {
    "type": "object",
    "required": [*_COLLECTION_SCHEMA["required"], "papers", "page", "pages"],
    "properties": {
        **_COLLECTION_SCHEMA["properties"],
        "papers": {"type": "array", "description": "Most recently added first, 30 a page.",
                   "items": {"type": "object", "required": ["id", "title", "addedAt"],
                             "properties": {"id": {"type": "string"}, "title": {"type": "string"},
                                            "addedAt": {"type": "string",
                                                        "format": "date-time"}}}},
        "page": {"type": "integer", "minimum": 1}, "pages": {"type": "integer", "minimum": 1},
    },
}
_MEMBERSHIP_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["collection", "paper", "inCollection", "changed"],
    "properties": {"collection": {"type": "integer"}, "paper": {"type": "string"},
                   "inCollection": {"type": "boolean"},
                   "changed": {"type": "boolean",
                               "description": "False when it was so already (idempotent)."}},
}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_BAD = {400: {"model": ApiError, "description": "A refused value; the message names it."}}
_NOT_FOUND = {404: {"model": ApiError, "description": "No such collection (or paper), or a "
                                                     "private collection of someone else."}}
_LIMIT = {409: {"model": ApiError, "description": "A limit reached (collections per account, "
                                                  "papers per collection)."}}
_RATE = {429: {"model": ApiError, "description": "Too many changes; see Retry-After.",
               "headers": {"Retry-After": {"schema": {"type": "string"}}}}}
_SECURED = {"security": [{"apiToken": []}]}
CollectionId = Annotated[int, Path(ge=1, le=2**31 - 1, description="The collection's id.")]


# What community/collections.py accepts, stated in the schema: no control characters, and a
# name is more than spaces; a description keeps line breaks and tabs.
NAME_PATTERN = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
DESCRIPTION_PATTERN = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$"


class NewCollection(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: StrictStr = Field(min_length=1, max_length=cs.NAME_MAX, pattern=NAME_PATTERN,
                            description="Shown as plain text; surrounding spaces are trimmed.")
    description: StrictStr = Field("", max_length=cs.DESCRIPTION_MAX,
                                   pattern=DESCRIPTION_PATTERN,
                                   description="Plain text; line breaks kept.")
    public: StrictBool = Field(False, description="Anyone may read it (else only you).")


class CollectionChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: StrictStr | None = Field(None, min_length=1, max_length=cs.NAME_MAX,
                                   pattern=NAME_PATTERN)
    description: StrictStr | None = Field(None, max_length=cs.DESCRIPTION_MAX,
                                          pattern=DESCRIPTION_PATTERN)
    public: StrictBool | None = None


def collection_json(c: Collection) -> dict[str, Any]:
    return {"id": c.id, "name": c.name, "description": c.description, "public": c.is_public,
            "owner": c.owner, "paperCount": c.paper_count,
            "createdAt": c.created_at.isoformat(), "updatedAt": c.updated_at.isoformat()}


def _api_error(exc: CollectionError) -> JSONResponse:
    return api_error(exc.status, str(exc))


@router.get("/api/v1/collections", summary="Your collections",
            responses={200: _json({"type": "object", "required": ["data"], "properties": {
                "data": {"type": "array", "items": _COLLECTION_SCHEMA}}},
                "Every collection of the token's account, most recently changed first."),
                **AUTH_RESPONSES}, openapi_extra=_SECURED)
def api_mine(conn: ConnDep, user: RequireUser) -> JSONResponse:
    return JSONResponse({"data": [collection_json(c) for c in cs.owned_by(conn, user.id)]})


@router.post("/api/v1/collections", summary="Create a collection", status_code=201,
             responses={201: _json(_COLLECTION_SCHEMA, "The new collection."),
                        **_BAD, **AUTH_RESPONSES, **_LIMIT, **_RATE}, openapi_extra=_SECURED)
def api_create(request: Request, body: NewCollection, user: RequireUser,) -> JSONResponse:
    _count_write(request, user)
    try:
        made = _write(request, lambda conn: cs.create(
            conn, user.id, body.name, body.description, body.public, limits=_limits(request)))
    except CollectionError as exc:
        return _api_error(exc)
    return JSONResponse(collection_json(made), status_code=201)


@router.get("/api/v1/collections/{collection_id}", summary="A collection and its papers",
            responses={200: _json(_WITH_PAPERS, "The collection and one page of its papers."),
                       **_BAD, **_NOT_FOUND},
            openapi_extra={"parameters": [int_doc("page", "Page of 30 papers", 1, 1,
                                                  _MAX_PAGE)]})
def api_get(request: Request, conn: ConnDep, user: CurrentUser,
            collection_id: CollectionId) -> JSONResponse:
    """Public collections for anyone; a private one only with its owner's token (else 404)."""
    try:
        current = int_param(request.query_params, "page", 1, 1, _MAX_PAGE)
    except BadParam as exc:
        return api_error(400, str(exc))
    try:
        collection = cs.get_visible(conn, collection_id, user.id if user else None)
    except CollectionError as exc:
        return _api_error(exc)
    pages = cs.page_count(collection)
    if current > pages:
        return api_error(404, f"No page {current}: there are {pages}")
    papers = [{"id": i.paper["id"], "title": i.paper["title"],
               "addedAt": i.added_at.isoformat()} for i in cs.items(conn, collection, current)]
    return JSONResponse({**collection_json(collection), "papers": papers, "page": current,
                         "pages": pages})


@router.patch("/api/v1/collections/{collection_id}",
              summary="Rename, describe, or make a collection public or private",
              responses={200: _json(_COLLECTION_SCHEMA, "The collection as it is now."),
                         **_BAD, **AUTH_RESPONSES, **_NOT_FOUND, **_RATE},
              openapi_extra=_SECURED)
def api_update(request: Request, collection_id: CollectionId, body: CollectionChange,
               user: RequireUser) -> JSONResponse:
    _count_write(request, user)
    try:
        changed = _write(request, lambda conn: cs.update(
            conn, user.id, collection_id, name=body.name, description=body.description,
            public=body.public))
    except CollectionError as exc:
        return _api_error(exc)
    return JSONResponse(collection_json(changed))


@router.delete("/api/v1/collections/{collection_id}", summary="Delete a collection",
               responses={200: _json({"type": "object", "required": ["deleted"], "properties": {
                   "deleted": {"type": "integer"}}}, "Deleted: its id."),
                   **_BAD, **AUTH_RESPONSES, **_NOT_FOUND, **_RATE}, openapi_extra=_SECURED)
def api_delete(request: Request, collection_id: CollectionId, user: RequireUser,) -> JSONResponse:
    _count_write(request, user)
    try:
        _write(request, lambda conn: cs.delete(conn, user.id, collection_id))
    except CollectionError as exc:
        return _api_error(exc)
    return JSONResponse({"deleted": collection_id})


def _api_membership(request: Request, user: User, collection_id: int,
                    paper_id: str, add: bool) -> JSONResponse:
    _count_write(request, user)
    canonical = _canonical(paper_id)
    try:
        if canonical is None:
            raise cs.UnknownPaper(f"Paper {paper_id[:80]!r} not found: not an arXiv identifier")
        limits = _limits(request)
        changed = _write(request, lambda conn: cs.add_paper(
            conn, user.id, collection_id, canonical, limits=limits) if add
            else cs.remove_paper(conn, user.id, collection_id, canonical))
    except CollectionError as exc:
        return _api_error(exc)
    return JSONResponse({"collection": collection_id, "paper": canonical, "inCollection": add,
                         "changed": changed})


_MEMBERSHIP_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: _json(_MEMBERSHIP_SCHEMA, "Whether the paper is in the collection now."),
    **_BAD, **AUTH_RESPONSES, **_NOT_FOUND, **_RATE}


@router.put("/api/v1/collections/{collection_id}/papers/{paper_id:path}",
            summary="Add a paper to a collection (idempotent)",
            responses={**_MEMBERSHIP_RESPONSES, **_LIMIT}, openapi_extra=_SECURED)
def api_add(request: Request, collection_id: CollectionId, paper_id: str, user: RequireUser,) -> JSONResponse:
    return _api_membership(request, user, collection_id, paper_id, True)


@router.delete("/api/v1/collections/{collection_id}/papers/{paper_id:path}",
               summary="Remove a paper from a collection (idempotent)",
               responses=_MEMBERSHIP_RESPONSES, openapi_extra=_SECURED)
def api_remove(request: Request, collection_id: CollectionId, paper_id: str,
               user: RequireUser) -> JSONResponse:
    return _api_membership(request, user, collection_id, paper_id, False)
