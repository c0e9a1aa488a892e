"""Moderation pages and API: the public log (/moderation), the moderators' queue, flagging, and
the actions (hide a paper, suspend a user, dismiss flags), from forms and from /api/v1/moderation.

Thin: the rules live in community/moderation.py. Every action runs in one write transaction that
also writes its log row; a refusal rolls it back whole."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.engine import Connection

from dailypapers.community import moderation as mod
from dailypapers.community.users import User
from dailypapers.ids import InvalidArxivId, split_arxiv_id
from dailypapers.rank.trending import TrendingParams
from dailypapers.web.deps import (
    AUTH_RESPONSES, ConnDep, CsrfDep, RequireUser, api_error, client_address, rate_limit,
    render, safe_next, write_in_request,
)
from dailypapers.web.params import ApiError, BadParam, api_doc, int_doc, int_param
from dailypapers.web.json_response import JSONResponse
from dailypapers.web.request_reads import AppRoute

router = APIRouter(route_class=AppRoute)
T = TypeVar("T")
MAX_LOG_PAGE = 100_000


def _write(request: Request, work: Callable[[Connection], T]) -> T:
    """``work`` and its log row in one write transaction, committed before the answer."""
    return write_in_request(request, work)


def _flag_write(request: Request, work: Callable[[Connection], T]) -> T:
    """A new flag: only moderators read flags (the public log has actions, not flags), so the
    cached anonymous answers stay."""
    return write_in_request(request, work, changes=None)


def _paper_id(value: Any) -> str:
    try:
        return split_arxiv_id(value if isinstance(value, str) else "")[0]
    except InvalidArxivId:
        raise mod.ModerationError(f"no paper {str(value)[:64]!r}: not an arXiv identifier",
                                  404) from None


def _field(form: Any, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def _flag_limits(request: Request, user: User) -> None:
    settings = request.app.state.settings
    rate_limit(request, settings.ratelimit_flag_per_ip, "flag-ip", client_address(request))
    rate_limit(request, settings.ratelimit_flag_per_user, "flag-user", str(user.id))


# --- pages -----------------------------------------------------------------------------------


def _refused(request: Request, exc: mod.ModerationError) -> HTMLResponse:
    titles = {403: "Forbidden", 404: "Not found", 409: "Already done"}
    return render(request, "error.html", exc.status, title=titles.get(exc.status, "Refused"),
                  message=exc.message)


def _forbidden(request: Request) -> HTMLResponse:
    return render(request, "error.html", 403, title="Forbidden",
                  message="This page is for moderators.")


@router.get("/moderation", response_class=HTMLResponse, include_in_schema=False)
def log_page(request: Request, conn: ConnDep) -> HTMLResponse:
    """Every moderator action, newest first, public."""
    try:
        page = int_param(request.query_params, "page", 1, 1, MAX_LOG_PAGE)
    except BadParam as exc:
        return render(request, "error.html", 400, title="Bad request", message=str(exc))
    entries, total = mod.log_entries(conn, (page - 1) * mod.LOG_PAGE_SIZE)
    pages = max(1, -(-total // mod.LOG_PAGE_SIZE))
    if page > pages:
        return render(request, "error.html", 404, title="Not found",
                      message=f"No page {page}: there are {pages}")
    return render(request, "moderation_log.html", entries=entries, total=total, page=page,
                  pages=pages, canonical="/moderation" + (f"?page={page}" if page > 1 else ""))


@router.get("/moderation/queue", response_class=HTMLResponse, include_in_schema=False)
def queue_page(request: Request, conn: ConnDep, user: RequireUser) -> HTMLResponse:
    if not mod.is_moderator(user):
        return _forbidden(request)
    return render(request, "moderation_queue.html", items=mod.open_queue(conn),
                  open_count=mod.open_flag_count(conn), reasons=mod.FLAG_REASONS,
                  notice=request.query_params.get("done") == "1")


# An action on one target: (conn, request, user, action, target, reason).
_Act = Callable[[Connection, Request, User, str, Any, str], Any]


def _act_on_paper(conn: Connection, _request: Request, user: User, action: str, paper_id: Any,
                  reason: str) -> None:
    canonical = _paper_id(paper_id)
    if action == "hide":
        mod.hide_paper(conn, user, canonical, reason)
    elif action == "unhide":
        mod.unhide_paper(conn, user, canonical, reason)
    else:
        raise mod.ModerationError("action must be hide or unhide")


def _act_on_user(conn: Connection, _request: Request, user: User, action: str, username: Any,
                 reason: str) -> None:
    if action == "suspend":
        mod.suspend_user(conn, user, username, reason)
    elif action == "unsuspend":
        mod.unsuspend_user(conn, user, username, reason)
    else:
        raise mod.ModerationError("action must be suspend or unsuspend")


async def _form_action(request: Request, user: User, work: Callable[[Connection, Any], None],
                       default_next: str) -> Response:
    if not mod.is_moderator(user):
        return _forbidden(request)
    form = await request.form()
    try:
        await run_in_threadpool(_write, request, lambda conn: work(conn, form))
    except mod.ModerationError as exc:
        return _refused(request, exc)
    return RedirectResponse(safe_next(_field(form, "next"), default_next), status_code=303)


def _params(request: Request) -> TrendingParams:
    return TrendingParams.from_settings(request.app.state.settings)


def _act_on_comment(conn: Connection, request: Request, user: User, action: str,
                    comment_id: Any, reason: str) -> str:
    if action not in ("hide", "unhide"):
        raise mod.ModerationError("action must be hide or unhide")
    hide = mod.hide_comment if action == "hide" else mod.unhide_comment
    return hide(conn, user, comment_id, reason, _params(request))


def _act_on_thread(conn: Connection, _request: Request, user: User, action: str, paper_id: Any,
                   reason: str) -> None:
    if action not in ("lock", "unlock"):
        raise mod.ModerationError("action must be lock or unlock")
    mod.lock_thread(conn, user, _paper_id(paper_id), reason, locked=action == "lock")


# The four forms that act on one target: path, the field naming the target, the action.
_TARGET_FORMS: tuple[tuple[str, str, _Act], ...] = (
    ("/moderation/papers", "paper_id", _act_on_paper),  # hide or unhide
    ("/moderation/users", "username", _act_on_user),  # suspend or unsuspend
    ("/moderation/comments", "comment_id", _act_on_comment),  # hide or unhide
    ("/moderation/threads", "paper_id", _act_on_thread),  # lock or unlock
)


def _target_form(target_field: str, act: _Act) -> Callable[..., Any]:
    async def target_form(request: Request, _csrf: CsrfDep, user: RequireUser) -> Response:
        """``action`` on the target named by the form (``reason`` for the public log)."""
        return await _form_action(request, user, lambda conn, form: act(
            conn, request, user, _field(form, "action"), _field(form, target_field),
            _field(form, "reason")), "/moderation")

    return target_form


for _path, _target_field, _act in _TARGET_FORMS:
    router.post(_path, include_in_schema=False)(_target_form(_target_field, _act))


def _resolve(conn: Connection, request: Request, user: User, form: Any) -> None:
    """The queue's one form per target: dismiss its flags, or act on it (which resolves them)."""
    action, target_type = _field(form, "action"), _field(form, "target_type")
    name, reason = _field(form, "target_name"), _field(form, "reason")
    if action == "dismiss":
        mod.dismiss_flags(conn, user, target_type, _field(form, "target_id"), reason)
    elif action == "hide" and target_type == "paper":
        _act_on_paper(conn, request, user, "hide", name, reason)
    elif action == "suspend" and target_type == "user":
        _act_on_user(conn, request, user, "suspend", name, reason)
    elif action == "hide" and target_type == "comment":
        _act_on_comment(conn, request, user, "hide", _field(form, "target_id"), reason)
    else:
        raise mod.ModerationError("choose dismiss, or hide for a paper or comment, or suspend "
                                  "for a user")


@router.post("/moderation/queue/resolve", include_in_schema=False)
async def resolve_form(request: Request, _csrf: CsrfDep, user: RequireUser) -> Response:
    return await _form_action(request, user,
                              lambda conn, form: _resolve(conn, request, user, form),
                              "/moderation/queue?done=1")


def _flag_target(conn: Connection, target_type: str, target_id: str) -> tuple[str, str, str]:
    """(label, id, name) of a target one may flag, for the form; the name leads back to it (a
    comment's paper, a user's name)."""
    if target_type == "paper":
        target_id = _paper_id(target_id)
    key = mod.target_key(conn, target_type, target_id)
    label, name, _state = mod.describe_target(conn, target_type, key)
    return label, target_id, name


@router.get("/flag", response_class=HTMLResponse, include_in_schema=False)
def flag_page(request: Request, conn: ConnDep, user: RequireUser) -> HTMLResponse:
    """The form to flag a paper or user (``?type=paper&id=2401.12345``, ``?type=user&id=NAME``)."""
    params = request.query_params
    try:
        label, target_id, _name = _flag_target(conn, params.get("type", ""), params.get("id", ""))
    except mod.ModerationError as exc:
        return _refused(request, exc)
    return render(request, "flag.html", target_type=params["type"], target_id=target_id,
                  label=label, reasons=mod.FLAG_REASONS, errors={})


@router.post("/flag", response_class=HTMLResponse, include_in_schema=False)
async def flag_form(request: Request, _csrf: CsrfDep, user: RequireUser) -> HTMLResponse:
    form = await request.form()
    target_type, target_id = _field(form, "target_type"), _field(form, "target_id")
    _flag_limits(request, user)

    def work(conn: Connection) -> tuple[str, str]:
        label, canonical, name = _flag_target(conn, target_type, target_id)
        mod.flag(conn, user, target_type, canonical, _field(form, "reason"),
                 _field(form, "detail"))
        return label, name

    try:
        label, name = await run_in_threadpool(_flag_write, request, work)
    except mod.ModerationError as exc:
        if exc.status == 404:
            return _refused(request, exc)
        return render(request, "flag.html", exc.status, target_type=target_type,
                      target_id=target_id, label=target_id, reasons=mod.FLAG_REASONS,
                      errors={"reason": exc.message}, detail=_field(form, "detail"))
    return render(request, "flag.html", target_type=target_type, target_id=target_id,
                  label=label, name=name, reasons=mod.FLAG_REASONS, errors={}, done=True)


# --- API -------------------------------------------------------------------------------------

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ApiError, "description": "The body was refused (no reason, a bad value)."},
    **AUTH_RESPONSES,
    403: {"model": ApiError, "description": "The token's user is not a moderator."},
    404: {"model": ApiError, "description": "No such paper, user or open flag."},
    409: {"model": ApiError, "description": "Done already (hidden, suspended, flagged)."},
}
_DONE = {"type": "object", "required": ["ok"], "properties": {"ok": {"type": "boolean"}}}
_REASON = {"type": "string", "minLength": 1, "maxLength": mod.MAX_REASON_CHARS,
           "description": "Why: shown on the public moderation log."}


def _doc(summary: str, ok: dict[str, Any], body: dict[str, Any] | None = None,
         errors: tuple[int, ...] = (400, 401, 403, 404, 409)) -> dict[str, Any]:
    extra: dict[str, Any] = {"security": [{"apiToken": []}]}
    if body is not None:
        extra["requestBody"] = {"required": True, "content": {"application/json": {"schema": {
            "type": "object", "required": [k for k, v in body.items() if v.get("minLength")],
            "properties": body}}}}
    return {"summary": summary, "openapi_extra": extra, "responses": {
        200: {"description": "Done.", "content": {"application/json": {"schema": ok}}},
        **{code: _ERRORS[code] for code in errors}}}


async def _body(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise mod.ModerationError("the body must be a JSON object") from None
    if not isinstance(body, dict):
        raise mod.ModerationError("the body must be a JSON object")
    return body


async def _api_action(request: Request, user: User, work: Callable[[Connection, dict], Any],
                      *, moderators_only: bool = True, write: Any = _write) -> JSONResponse:
    if moderators_only and not mod.is_moderator(user):
        return api_error(403, "moderators only")
    try:
        body = await _body(request)
        result = await run_in_threadpool(write, request, lambda conn: work(conn, body))
    except mod.ModerationError as exc:
        return api_error(exc.status, exc.message)
    return JSONResponse(result if isinstance(result, dict) else {"ok": True})


_REASON_BODY = {"reason": _REASON}


@router.post("/api/v1/moderation/papers/{paper_id:path}/hide",
             **_doc("Hide a paper from every list, search and API", _DONE, _REASON_BODY))
async def api_hide(request: Request, paper_id: str, user: RequireUser) -> JSONResponse:
    return await _api_action(request, user, lambda conn, body: _act_on_paper(
        conn, request, user, "hide", paper_id, body.get("reason")))


@router.post("/api/v1/moderation/papers/{paper_id:path}/unhide",
             **_doc("Show a hidden paper again", _DONE, _REASON_BODY))
async def api_unhide(request: Request, paper_id: str, user: RequireUser) -> JSONResponse:
    return await _api_action(request, user, lambda conn, body: _act_on_paper(
        conn, request, user, "unhide", paper_id, body.get("reason")))


@router.post("/api/v1/moderation/users/{username}/suspend",
             **_doc("Suspend a user: no sign-in, sessions ended, API tokens refused", _DONE,
                    _REASON_BODY))
async def api_suspend(request: Request, username: str, user: RequireUser) -> JSONResponse:
    return await _api_action(request, user, lambda conn, body: _act_on_user(
        conn, request, user, "suspend", username, body.get("reason")))


@router.post("/api/v1/moderation/users/{username}/unsuspend",
             **_doc("Lift a user's suspension", _DONE, _REASON_BODY))
async def api_unsuspend(request: Request, username: str, user: RequireUser) -> JSONResponse:
    return await _api_action(request, user, lambda conn, body: _act_on_user(
        conn, request, user, "unsuspend", username, body.get("reason")))


@router.post("/api/v1/moderation/comments/{comment_id}/hide",
             **_doc("Hide a comment: it keeps its place as \"[removed by a moderator]\"", _DONE,
                    _REASON_BODY))
async def api_hide_comment(request: Request, comment_id: str, user: RequireUser) -> JSONResponse:
    return await _api_action(request, user, lambda conn, body: _act_on_comment(
        conn, request, user, "hide", comment_id, body.get("reason")))


@router.post("/api/v1/moderation/comments/{comment_id}/unhide",
             **_doc("Show a hidden comment again", _DONE, _REASON_BODY))
async def api_unhide_comment(request: Request, comment_id: str,
                             user: RequireUser) -> JSONResponse:
    return await _api_action(request, user, lambda conn, body: _act_on_comment(
        conn, request, user, "unhide", comment_id, body.get("reason")))


@router.post("/api/v1/moderation/papers/{paper_id:path}/lock",
             **_doc("Lock a paper's comments: no new comments, replies or edits", _DONE,
                    _REASON_BODY))
async def api_lock(request: Request, paper_id: str, user: RequireUser) -> JSONResponse:
    return await _api_action(request, user, lambda conn, body: _act_on_thread(
        conn, request, user, "lock", paper_id, body.get("reason")))


@router.post("/api/v1/moderation/papers/{paper_id:path}/unlock",
             **_doc("Open a locked thread again", _DONE, _REASON_BODY))
async def api_unlock(request: Request, paper_id: str, user: RequireUser) -> JSONResponse:
    return await _api_action(request, user, lambda conn, body: _act_on_thread(
        conn, request, user, "unlock", paper_id, body.get("reason")))


_TARGET = {
    "targetType": {"type": "string", "enum": list(mod.TARGET_TYPES), "minLength": 1},
    "targetId": {"type": "string", "minLength": 1, "maxLength": 64,
                 "description": "A paper's arXiv id, a comment's id, or a username."},
}


@router.post("/api/v1/moderation/flags/dismiss", **_doc(
    "Close the open flags on a target without acting on it",
    {"type": "object", "required": ["dismissed"], "properties": {"dismissed": {"type": "integer"}}},
    {**_TARGET, "reason": _REASON}))
async def api_dismiss(request: Request, user: RequireUser) -> JSONResponse:
    def work(conn: Connection, body: dict) -> dict:  # type: ignore[type-arg]
        target_type, target_id = body.get("targetType"), body.get("targetId")
        if target_type == "user" and isinstance(target_id, str):  # named by username
            target_id = str(mod.find_user(conn, target_id).id)
        elif target_type == "paper":
            target_id = _paper_id(target_id)
        return {"dismissed": mod.dismiss_flags(conn, user, target_type, target_id,
                                               body.get("reason"))}

    return await _api_action(request, user, work)


_FLAG_DOC = _doc(
    "Flag a paper or a user for the moderators (one open flag per target)",
    {"type": "object", "required": ["id"], "properties": {"id": {"type": "integer"}}},
    {**_TARGET,
     "reason": {"type": "string", "enum": list(mod.FLAG_REASONS), "minLength": 1},
     "detail": {"type": "string", "maxLength": mod.MAX_DETAIL_CHARS}},
    errors=(400, 401, 404, 409))
_FLAG_DOC["responses"][200]["description"] = "The new flag's id."
_FLAG_DOC["responses"][429] = {
    "model": ApiError, "description": "Too many flags: try again after Retry-After seconds.",
    "headers": {"Retry-After": {"schema": {"type": "integer"}}}}


@router.post("/api/v1/flags", **_FLAG_DOC)
async def api_flag(request: Request, user: RequireUser) -> JSONResponse:
    _flag_limits(request, user)

    def work(conn: Connection, body: dict) -> dict:  # type: ignore[type-arg]
        target_type, target_id = body.get("targetType"), body.get("targetId")
        if target_type == "paper":
            target_id = _paper_id(target_id)
        return {"id": mod.flag(conn, user, target_type, target_id, body.get("reason"),
                               body.get("detail", ""))}

    return await _api_action(request, user, work, moderators_only=False, write=_flag_write)


_QUEUE_ITEM = {"type": "object", "required": ["targetType", "targetId", "count"], "properties": {
    "targetType": {"type": "string"}, "targetId": {"type": "string"},
    "name": {"type": "string"}, "label": {"type": "string"}, "state": {"type": "string"},
    "count": {"type": "integer"}, "firstAt": {"type": "string"},
    "reasons": {"type": "object", "additionalProperties": {"type": "integer"}},
}}


@router.get("/api/v1/moderation/flags", **_doc(
    "The open flags, grouped by target, longest waiting first",
    {"type": "array", "items": _QUEUE_ITEM}, errors=(401, 403)))
def api_queue(conn: ConnDep, user: RequireUser) -> JSONResponse:
    if not mod.is_moderator(user):
        return api_error(403, "moderators only")
    return JSONResponse([{
        "targetType": item.target_type, "targetId": item.target_id, "name": item.name,
        "label": item.label, "state": item.state, "count": item.count,
        "firstAt": item.first_at.isoformat(), "reasons": item.reasons,
    } for item in mod.open_queue(conn)])


_LOG_ENTRY = {"type": "object", "required": ["id", "createdAt", "moderator", "action",
                                             "targetType", "targetId", "reason"], "properties": {
    "id": {"type": "integer"}, "createdAt": {"type": "string"}, "moderator": {"type": "string"},
    "action": {"type": "string", "enum": list(mod.ACTIONS)}, "targetType": {"type": "string"},
    "targetId": {"type": "string"}, "targetName": {"type": "string"},
    "reason": {"type": "string"},
}}


@router.get("/api/v1/moderation/log", **api_doc(
    int_doc("page", "Page of the log, newest first", 1, 1, MAX_LOG_PAGE),
    ok={"description": f"Up to {mod.LOG_PAGE_SIZE} entries, newest first, and the total.",
        "content": {"application/json": {"schema": {
            "type": "object", "required": ["data", "total"], "properties": {
                "data": {"type": "array", "items": _LOG_ENTRY},
                "total": {"type": "integer"}}}}}}))
def api_log(request: Request, conn: ConnDep) -> JSONResponse:
    """The public moderation log (no token needed)."""
    try:
        page = int_param(request.query_params, "page", 1, 1, MAX_LOG_PAGE)
    except BadParam as exc:
        return api_error(400, str(exc))
    entries, total = mod.log_entries(conn, (page - 1) * mod.LOG_PAGE_SIZE)
    return JSONResponse({"total": total, "data": [{
        "id": e.id, "createdAt": e.created_at.isoformat(), "moderator": e.moderator,
        "action": e.action, "targetType": e.target_type, "targetId": e.target_id,
        "targetName": e.target_name, "reason": e.reason,
    } for e in entries]})
