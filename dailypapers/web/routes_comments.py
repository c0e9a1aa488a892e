"""Comments from the paper page (forms, no JavaScript needed) and from /api/v1 (a Bearer token).

Thin: the rules live in community/comments.py, the Markdown in web/comment_markup.py. Each write
is one transaction (``_write``); a refusal raises, so it rolls back and answers 4xx
(``{"error": …}`` on /api/). New comments are rate limited per account and per address.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.engine import Connection

from dailypapers import catalog
from dailypapers.community.comments import (
    SORTS, Comment, CommentRefused, CommentRules, NotYours, Sort, UnknownComment, UnknownPaper,
    add_comment, comment_paper, delete_comment, edit_comment, get_comment, set_comment_vote,
    thread, toggle_comment_vote,
)
from dailypapers.ids import InvalidArxivId, split_arxiv_id
from dailypapers.rank.trending import TrendingParams
from dailypapers.web.comment_markup import render_comment
from dailypapers.web.deps import (
    AUTH_RESPONSES, ConnDep, CsrfDep, RequireUser, client_address, rate_limit, write_in_request,
)
from dailypapers.web.params import query_doc
from dailypapers.web.json_response import JSONResponse
from dailypapers.web.request_reads import AppRoute

router = APIRouter(route_class=AppRoute)

_SECURED = {"security": [{"apiToken": []}]}
_COMMENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["id", "paperId", "parentId", "author", "body", "html", "upvotes", "score",
                 "createdAt", "deleted", "replies"],
    "properties": {
        "id": {"type": "integer"}, "paperId": {"type": "string"},
        "parentId": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
        "author": {"anyOf": [{"type": "string"}, {"type": "null"}],
                   "description": "Username; null when deleted or the account is gone."},
        "body": {"type": "string", "description": "The Markdown as written (\"\" once deleted)."},
        "html": {"type": "string", "description": "The Markdown rendered and sanitised; math "
                 "as <span class=\"math\"> for KaTeX."},
        "upvotes": {"type": "integer", "minimum": 0},
        "score": {"type": "number", "description": "Wilson lower bound of the upvotes (z=1.96)."},
        "voted": {"type": "boolean"},
        "createdAt": {"type": "string"},
        "editedAt": {"anyOf": [{"type": "string"}, {"type": "null"}]},
        "deleted": {"type": "boolean"},
        "hidden": {"type": "boolean", "description": "Removed by a moderator: it keeps its "
                   "place, with no author, body or html."},
        "replies": {"type": "array", "items": {"type": "object"},
                    "description": "Its replies, same shape (always [] in the answer to a "
                                   "write, which concerns one comment)."},
    },
}
_THREAD_SCHEMA = {
    "type": "object", "required": ["paperId", "sort", "numComments", "comments"],
    "properties": {"paperId": {"type": "string"}, "sort": {"enum": list(SORTS)},
                   "numComments": {"type": "integer"},
                   "comments": {"type": "array", "items": _COMMENT_SCHEMA}},
}
_VOTE_SCHEMA = {
    "type": "object", "required": ["id", "voted", "changed", "upvotes"],
    "properties": {"id": {"type": "integer"}, "voted": {"type": "boolean"},
                   "changed": {"type": "boolean"}, "upvotes": {"type": "integer"}},
}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": {
        "type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}}}}}


_WRITE_ERRORS: dict[int | str, dict[str, Any]] = {
    **AUTH_RESPONSES,
    400: _error("Refused: empty, too long (DAILYPAPERS_COMMENT_MAX_CHARS), too deep, or a "
                "deleted comment."),
    403: _error("Another user's comment."),
    404: _error("No such paper or comment."),
}


def _rules(request: Request) -> CommentRules:
    return CommentRules.from_settings(request.app.state.settings)


def _params(request: Request) -> TrendingParams:
    return TrendingParams.from_settings(request.app.state.settings)


def _canonical(paper_id: str) -> str:
    try:
        return split_arxiv_id(paper_id)[0]
    except InvalidArxivId:
        raise HTTPException(404, f"Paper {paper_id!r} not found: not an arXiv identifier") \
            from None


def parse_sort(value: str | None) -> Sort:
    """``?sort=top`` (Wilson lower bound, the default) or ``new``; anything else is a 400."""
    if value is None or value == "":
        return "top"
    if value not in SORTS:
        raise HTTPException(400, f"sort: expected one of {', '.join(SORTS)}, got {value[:50]!r}")
    return value  # type: ignore[return-value]


def _limit_creation(request: Request, user_id: int) -> None:
    settings = request.app.state.settings
    rate_limit(request, settings.ratelimit_comment_per_user, "comment:user", str(user_id))
    rate_limit(request, settings.ratelimit_comment_per_ip, "comment:ip", client_address(request))


def _refusals(work):  # type: ignore[no-untyped-def]
    """Run ``work``; the service's refusals as HTTP errors (which roll the transaction back)."""
    try:
        return work()
    except CommentRefused as exc:
        raise HTTPException(400, str(exc)) from None
    except NotYours:
        raise HTTPException(403, "only its author may change a comment") from None
    except UnknownComment as exc:
        raise HTTPException(404, f"no comment {exc.args[0]}") from None
    except UnknownPaper as exc:
        raise HTTPException(404, f"Paper {exc.args[0]} not found") from None


MAX_ID = 2**31 - 1  # the columns are 32-bit: a larger number is no comment (and no 500)


def _is_id(value: Any) -> bool:
    if isinstance(value, str):
        return value.isascii() and value.isdigit() and len(value) <= 10 and 1 <= int(value) <= MAX_ID
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_ID


def _parent(value: str | None) -> int | None:
    if value is None or value.strip() == "":
        return None
    if not _is_id(value):
        raise HTTPException(400, f"parent: expected a comment id, got {value[:50]!r}")
    return int(value)


# --- what the paper page shows ----------------------------------------------------------------


def page_thread(request: Request, conn: Connection, paper_id: str, viewer_id: int | None,
                sort: Sort) -> dict[str, Any]:
    """The paper page's comments section: the tree with each body rendered."""
    comments = thread(conn, paper_id, viewer_id, sort)
    html: dict[int, Any] = {}
    math = False
    stack = list(comments)
    while stack:
        node = stack.pop()
        if not node.deleted:
            html[node.id] = render_comment(node.body)
            math = math or 'class="math"' in html[node.id]
        stack.extend(node.replies)
    return {"comments": comments, "comment_html": html, "comment_sort": sort,
            "comments_math": math, "comment_rules": _rules(request)}


def _write(request: Request, work):  # type: ignore[no-untyped-def]
    """``work`` in one write transaction, opened here so that lock and work share this thread
    (routes_votes.py says why), committed before the answer; a refusal rolls it back and
    answers 4xx. Stamps the API token used, if any."""
    return write_in_request(request, lambda conn: _refusals(lambda: work(conn)))


# --- pages --------------------------------------------------------------------------------------


def _back(paper_id: str, anchor: str, sort: str | None) -> RedirectResponse:
    """Back to the thread at ``anchor``, in the order the form was sent from."""
    query = f"?sort={sort}" if sort in SORTS and sort != "top" else ""
    return RedirectResponse(f"/papers/{paper_id}{query}#{anchor}", status_code=303)


SortField = Annotated[str | None, Form()]


@router.post("/papers/{paper_id:path}/comments", include_in_schema=False)
def comment_form(request: Request, paper_id: str, _csrf: CsrfDep, user: RequireUser,
                 body: Annotated[str, Form()] = "",
                 parent: Annotated[str | None, Form()] = None,
                 sort: SortField = None) -> Response:
    canonical = _canonical(paper_id)
    parent_id = _parent(parent)
    _limit_creation(request, user.id)
    rules, params = _rules(request), _params(request)
    new_id = _write(request, lambda conn: add_comment(conn, user.id, canonical, body, parent_id,
                                                      rules, params))
    return _back(canonical, f"comment-{new_id}", sort)


def _comment_id(value: str) -> int:
    if not _is_id(value):
        raise HTTPException(404, f"no comment {value[:50]!r}")
    return int(value)


@router.post("/comments/{comment_id}/edit", include_in_schema=False)
def edit_form(request: Request, comment_id: str, _csrf: CsrfDep, user: RequireUser,
              body: Annotated[str, Form()] = "", sort: SortField = None) -> Response:
    cid = _comment_id(comment_id)
    rules = _rules(request)
    paper_id = _write(request, lambda conn: edit_comment(conn, user.id, cid, body, rules))
    return _back(paper_id, f"comment-{cid}", sort)


@router.post("/comments/{comment_id}/delete", include_in_schema=False)
def delete_form(request: Request, comment_id: str, _csrf: CsrfDep,
                user: RequireUser, sort: SortField = None) -> Response:
    cid = _comment_id(comment_id)
    params = _params(request)
    paper_id = _write(request, lambda conn: delete_comment(conn, user.id, cid, params))
    return _back(paper_id, f"comment-{cid}", sort)


@router.post("/comments/{comment_id}/vote", include_in_schema=False)
def vote_form(request: Request, comment_id: str, _csrf: CsrfDep,
              user: RequireUser, sort: SortField = None) -> Response:
    cid = _comment_id(comment_id)

    def work(conn: Connection) -> str:
        toggle_comment_vote(conn, user.id, cid)
        return comment_paper(conn, cid)

    return _back(_write(request, work), f"comment-{cid}", sort)


# --- API ----------------------------------------------------------------------------------------


def comment_json(node: Comment, viewer: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": node.id, "paperId": node.paper_id, "parentId": node.parent_id,
        "author": None if node.deleted else node.author,
        "body": "" if node.deleted else node.body,
        "html": "" if node.deleted or node.hidden else str(render_comment(node.body)),
        "upvotes": node.upvotes, "score": node.score,
        "createdAt": node.created_at.isoformat(),
        "editedAt": node.edited_at.isoformat() if node.edited_at else None,
        "deleted": node.deleted,
        "hidden": node.hidden,
        "replies": [comment_json(r, viewer) for r in node.replies],
    }
    if viewer:
        out["voted"] = node.voted
    return out


@router.get("/api/v1/papers/{paper_id:path}/comments", summary="A paper's comments, threaded",
            openapi_extra={"parameters": [query_doc(
                "sort", "Order of siblings: top (the Wilson lower bound of their upvotes) or new "
                "(newest first).", enum=list(SORTS), default="top")]},
            responses={200: _json(_THREAD_SCHEMA, "Top-level comments with `replies` nested, "
                                  "siblings ordered by `sort`."),
                       400: _error("Bad `sort`."), 404: _error("No such paper.")})
def api_comments(request: Request, paper_id: str, conn: ConnDep) -> JSONResponse:
    """Public. ``sort=top`` (default: the Wilson lower bound of each comment's upvotes) or
    ``sort=new`` (newest first)."""
    order = parse_sort(request.query_params.get("sort"))
    canonical = _canonical(paper_id)
    paper = catalog.get_paper(conn, canonical)
    if paper is None:
        raise HTTPException(404, f"Paper {canonical} not found")
    return JSONResponse({
        "paperId": canonical, "sort": order,
        "numComments": catalog.total_comments(paper["num_comments"], paper),
        "comments": [comment_json(c) for c in thread(conn, canonical, None, order)],
    })


async def _json_body(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise HTTPException(400, "expected a JSON object such as {\"body\": \"...\"}") from None
    if not isinstance(body, dict):
        raise HTTPException(400, "expected a JSON object such as {\"body\": \"...\"}")
    return body


_BODY_DOC = {"requestBody": {"required": True, "content": {"application/json": {"schema": {
    "type": "object", "required": ["body"],
    "properties": {"body": {"type": "string", "description": "Markdown; LaTeX in $…$."},
                   "parentId": {"anyOf": [{"type": "integer"}, {"type": "null"}],
                                "description": "The comment this one replies to."}}}}}}}


@router.post("/api/v1/papers/{paper_id:path}/comments", summary="Comment on a paper",
             status_code=201, openapi_extra={**_SECURED, **_BODY_DOC},
             responses={201: _json(_COMMENT_SCHEMA, "The new comment."), **_WRITE_ERRORS,
                        429: _error("Too many comments: wait `Retry-After` seconds.")})
async def api_add(request: Request, paper_id: str, user: RequireUser) -> JSONResponse:
    """Needs ``Authorization: Bearer <personal API token>``. Body ``{"body": "…", "parentId":
    null}``."""
    payload = await _json_body(request)
    parent = payload.get("parentId")
    if parent is not None and not (isinstance(parent, int) and _is_id(parent)):
        raise HTTPException(400, "parentId: expected a comment id (an integer) or null")
    canonical = _canonical(paper_id)
    _limit_creation(request, user.id)
    return await run_in_threadpool(_api_add, request, user.id, canonical, payload.get("body"),
                                   parent)


def _api_add(request: Request, user_id: int, paper_id: str, body: Any,
             parent: int | None) -> JSONResponse:
    def work(conn: Connection) -> dict[str, Any]:
        cid = add_comment(conn, user_id, paper_id, body, parent, _rules(request),
                          _params(request))
        return comment_json(get_comment(conn, paper_id, cid, user_id), viewer=True)

    return JSONResponse(_write(request, work), status_code=201)


def _api_one(request: Request, user_id: int, cid: int, change) -> JSONResponse:  # type: ignore[no-untyped-def]
    def work(conn: Connection) -> dict[str, Any]:
        return comment_json(get_comment(conn, change(conn), cid, user_id), viewer=True)

    return JSONResponse(_write(request, work))


@router.patch("/api/v1/comments/{comment_id}", summary="Edit your comment",
              openapi_extra={**_SECURED, **_BODY_DOC},
              responses={200: _json(_COMMENT_SCHEMA, "The comment as edited."), **_WRITE_ERRORS})
async def api_edit(request: Request, comment_id: str, user: RequireUser) -> JSONResponse:
    """Replace the text of your own comment (another user's: 403)."""
    payload = await _json_body(request)
    cid = _comment_id(comment_id)
    rules = _rules(request)
    return await run_in_threadpool(
        _api_one, request, user.id, cid,
        lambda conn: edit_comment(conn, user.id, cid, payload.get("body"), rules))


@router.delete("/api/v1/comments/{comment_id}", summary="Delete your comment",
               openapi_extra=_SECURED,
               responses={200: _json(_COMMENT_SCHEMA, "The comment's place, now `deleted`."),
                          **_WRITE_ERRORS})
def api_delete(request: Request, comment_id: str, user: RequireUser) -> JSONResponse:
    """Your own comment only (another user's: 403). Its replies stay; it shows as deleted."""
    cid = _comment_id(comment_id)
    params = _params(request)
    return _api_one(request, user.id, cid,
                    lambda conn: delete_comment(conn, user.id, cid, params))


def _api_vote(request: Request, user_id: int, comment_id: str, on: bool) -> JSONResponse:
    cid = _comment_id(comment_id)
    state = _write(request, lambda conn: set_comment_vote(conn, user_id, cid, on))
    return JSONResponse({"id": state.comment_id, "voted": state.voted, "changed": state.changed,
                         "upvotes": state.upvotes})


@router.post("/api/v1/comments/{comment_id}/vote", summary="Upvote a comment",
             openapi_extra=_SECURED,
             responses={200: _json(_VOTE_SCHEMA, "The vote's state."), **_WRITE_ERRORS})
def api_vote(request: Request, comment_id: str, user: RequireUser) -> JSONResponse:
    """Idempotent: voting twice keeps one vote."""
    return _api_vote(request, user.id, comment_id, True)


@router.delete("/api/v1/comments/{comment_id}/vote", summary="Take a comment upvote back",
               openapi_extra=_SECURED,
               responses={200: _json(_VOTE_SCHEMA, "The vote's state."), **_WRITE_ERRORS})
def api_unvote(request: Request, comment_id: str, user: RequireUser) -> JSONResponse:
    """Idempotent."""
    return _api_vote(request, user.id, comment_id, False)
