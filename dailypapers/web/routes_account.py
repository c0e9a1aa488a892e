"""Account pages (sign up, sign in, sign out, account, password reset) and ``/api/v1/me``.

Thin: the rules live in ``community/``. Every POST carries the CSRF token and writes in one
write transaction; GETs only read. Routes that hash or check a password (argon2, ~0.13 s) do it
before opening their write transaction, so SQLite's one writer never waits on it. A failed form
answers with the form again (400) and its input, never the password.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.engine import Engine

from dailypapers.community import accounts, resets
from dailypapers.community.accounts import AccountError
from dailypapers.community.sessions import end_session, start_session
from dailypapers.db.engine import read_transaction, write_transaction
from dailypapers.notify import queued_mail
from dailypapers.notify.mail import deliver
from dailypapers.settings import Settings
from dailypapers.web import routes_subscribe
from dailypapers.web.deps import (
    AUTH_RESPONSES, ConnDep, CsrfDep, CurrentUser, PrivateWriteConnDep, RequireUser, User,
    client_address, clear_session_cookie, public_base, rate_limit,
    render, safe_next,
    session_token, set_session_cookie,
)
from dailypapers.web.json_response import JSONResponse
from dailypapers.web.request_reads import AppRoute

router = APIRouter(include_in_schema=False, route_class=AppRoute)
api_router = APIRouter(route_class=AppRoute)

FormText = Annotated[str, Form()]
NO_STORE = {"Cache-Control": "no-store"}  # pages that show a secret or a credential's form


def _settings(request: Request) -> Settings:
    return request.app.state.settings


def _engine(request: Request) -> Engine:
    return request.app.state.engine


def _lifetime(request: Request) -> dt.timedelta:
    return dt.timedelta(days=_settings(request).session_days)


def _signed_in(request: Request, conn: Any, user: User, next_path: str) -> Response:
    """Start a fresh session (a new token: whatever cookie came in is not reused) and go on."""
    end_session(conn, session_token(request))
    token, _ = start_session(conn, user.id, _lifetime(request))
    response = RedirectResponse(safe_next(next_path), status_code=303)
    set_session_cookie(request, response, token)
    return response


# --- sign up, sign in, sign out ---------------------------------------------------------------


@router.get("/signup", response_class=HTMLResponse)
def signup_page(request: Request, user: CurrentUser, next: str = "") -> Response:
    if user is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return render(request, "account_signup.html", next=safe_next(next, ""), form={}, errors={})


@router.post("/signup", response_class=HTMLResponse)
def signup(
    request: Request, _csrf: CsrfDep, username: FormText = "", password: FormText = "",
    email: FormText = "", next: FormText = "",
) -> Response:
    rate_limit(request, _settings(request).ratelimit_signup_per_ip, "signup",
               client_address(request))
    username = username.strip()
    try:
        with read_transaction(_engine(request)) as conn:  # the cheap refusals first
            problem = accounts.username_problem(conn, username)
        if problem:
            raise AccountError(problem, "username")
        hashed = accounts.prepare_password(password, username)  # slow: outside the write
        with write_transaction(_engine(request)) as conn:
            user = accounts.create_user(conn, username, password, email=email, hashed=hashed)
            return _signed_in(request, conn, user, next)
    except AccountError as exc:
        return render(request, "account_signup.html", 400, next=safe_next(next, ""),
                      form={"username": username, "email": email}, errors={exc.field: exc.message})


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, user: CurrentUser, next: str = "", done: str = "") -> Response:
    if user is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return render(request, "account_login.html", next=safe_next(next, ""), form={}, error="",
                  notice="Your password is changed: sign in with it." if done == "reset" else "")


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request, _csrf: CsrfDep, username: FormText = "", password: FormText = "",
    next: FormText = "",
) -> Response:
    settings = _settings(request)
    rate_limit(request, settings.ratelimit_signin_per_ip, "signin", client_address(request))
    # Per account only failures count, so signing in often never locks anyone out; checked
    # before the password, so a locked name costs no argon2 work.
    account = username.strip().lower()[:accounts.MAX_EMAIL_CHARS]
    rate_limit(request, settings.ratelimit_signin_per_account, "signin-account", account,
               count=False)
    with read_transaction(_engine(request)) as conn:  # argon2 outside any write transaction
        user = accounts.authenticate(conn, username, password)
    if user is None:
        request.app.state.rate_limiter.hit(settings.ratelimit_signin_per_account,
                                           "signin-account", account)
        return render(request, "account_login.html", 400, next=safe_next(next, ""),
                      form={"username": username}, notice="",
                      error="Wrong username or password (or the account is suspended).")
    with write_transaction(_engine(request), changes=None) as conn:  # a hash, a session: private
        accounts.upgrade_hash(conn, user.id, password)
        return _signed_in(request, conn, user, next)


@router.post("/logout")
def logout(request: Request, _csrf: CsrfDep, conn: PrivateWriteConnDep) -> Response:
    end_session(conn, session_token(request))
    response = RedirectResponse("/papers", status_code=303)
    clear_session_cookie(request, response)
    return response


# --- the account page -------------------------------------------------------------------------

CHANGED = {
    "password": "Password changed. Every other device is signed out.",
    "email": "E-mail address saved.",
    "revoked": "Token revoked: it no longer works.",
}


def _account_page(request: Request, conn: Any, user: User, status: int = 200,
                  **context: Any) -> HTMLResponse:
    row = accounts.user_by_id(conn, user.id)
    context.setdefault("errors", {})
    context.setdefault("notice", "")
    subscribing = routes_subscribe.form_context(
        request, routes_subscribe.empty_form(email=row.email or ""))
    response = render(request, "account.html", status, user=user, email=row.email or "",
                      tokens=accounts.list_api_tokens(conn, user),
                      subscriptions=routes_subscribe.account_subscriptions(request, conn, user),
                      subscribe_form=subscribing["form"], subscribe_errors={},
                      max_items_limit=subscribing["max_items_limit"], **context)
    response.headers.update(NO_STORE)
    return response


@router.get("/account", response_class=HTMLResponse)
def account_page(request: Request, user: RequireUser, conn: ConnDep,
                 changed: str = "") -> Response:
    return _account_page(request, conn, user, notice=CHANGED.get(changed, ""))


@router.post("/account/password", response_class=HTMLResponse)
def change_password(
    request: Request, user: RequireUser, _csrf: CsrfDep, current_password: FormText = "",
    new_password: FormText = "",
) -> Response:
    engine = _engine(request)
    try:
        with read_transaction(engine) as conn:  # argon2 twice, outside any write transaction
            if not accounts.check_password(conn, user.id, current_password):
                raise AccountError("the current password is wrong", "current_password")
        hashed = accounts.prepare_password(new_password, user.username, "new_password")
    except AccountError as exc:
        with read_transaction(engine) as conn:
            return _account_page(request, conn, user, 400, errors={exc.field: exc.message})
    with write_transaction(engine, changes=None) as conn:  # no anonymous answer shows these
        accounts.set_password(conn, user.id, hashed)  # ends every session …
        token, _ = start_session(conn, user.id, _lifetime(request))  # … this browser gets one
    response = RedirectResponse("/account?changed=password", status_code=303)
    set_session_cookie(request, response, token)
    return response


@router.post("/account/email", response_class=HTMLResponse)
def change_email(request: Request, user: RequireUser, _csrf: CsrfDep, conn: PrivateWriteConnDep,
                 email: FormText = "") -> Response:
    try:
        accounts.change_email(conn, user, email)
    except AccountError as exc:
        return _account_page(request, conn, user, 400, errors={exc.field: exc.message})
    return RedirectResponse("/account?changed=email", status_code=303)


@router.post("/account/tokens", response_class=HTMLResponse)
def create_token(request: Request, user: RequireUser, _csrf: CsrfDep, conn: PrivateWriteConnDep,
                 token_name: FormText = "") -> Response:
    try:
        token = accounts.create_api_token(conn, user, token_name)
    except AccountError as exc:
        return _account_page(request, conn, user, 400, errors={exc.field: exc.message})
    # Shown in this answer only (no-store), never in a URL or a redirect.
    return _account_page(request, conn, user, new_token=token,
                         notice="Token created. Copy it now: it is not shown again.")


@router.post("/account/tokens/{token_id}/revoke", response_class=HTMLResponse)
def revoke_token(request: Request, token_id: int, user: RequireUser, _csrf: CsrfDep,
                 conn: PrivateWriteConnDep) -> Response:
    if not accounts.revoke_api_token(conn, user, token_id):
        return _account_page(request, conn, user, 404,
                             errors={"token": "No such token of yours (revoked already?)."})
    return RedirectResponse("/account?changed=revoked", status_code=303)


# --- password reset -------------------------------------------------------------------------


@router.get("/reset", response_class=HTMLResponse)
def reset_request_page(request: Request) -> Response:
    return render(request, "account_reset_request.html", sent=False, form={})


@router.post("/reset", response_class=HTMLResponse)
def reset_request(
    request: Request, _csrf: CsrfDep, conn: PrivateWriteConnDep, background: BackgroundTasks,
    name_or_email: FormText = "",
) -> Response:
    settings = _settings(request)
    rate_limit(request, settings.ratelimit_reset_per_ip, "reset", client_address(request))
    row = accounts.user_by_name_or_email(conn, name_or_email)
    # Past the per-account limit the answer is the same page, minus the mail: a 429 here would
    # tell the asker that the account exists.
    limiter = request.app.state.rate_limiter
    if row is not None and limiter.hit(settings.ratelimit_reset_per_account, "reset-account",
                                       str(row.id)) is None:
        enqueue = request.app.state.mail_queue
        if enqueue is not None:
            # A worker makes the token when it sends: only the user's id is stored and queued.
            if resets.resettable(row):
                mail_id = queued_mail.add(conn, "password_reset", public_base(request),
                                          user_id=row.id)
                background.add_task(enqueue, mail_id)  # after the answer: after the commit
        elif (reset := resets.request_reset(conn, name_or_email)) is not None:
            mail = queued_mail.reset_mail(settings, public_base(request), reset)
            # Runs after the answer is sent, so after this request's transaction committed.
            background.add_task(deliver, request.app.state.engine, request.app.state.mail_backend,
                                settings.mail_from, mail)
    return render(request, "account_reset_request.html", sent=True, form={})


@router.get("/reset/{token}", response_class=HTMLResponse)
def reset_page(request: Request, token: str, conn: ConnDep) -> Response:
    username = resets.reset_username(conn, token)
    if username is None:
        response = render(request, "error.html", 410, title="Link expired",
                          message=resets.SPENT_MESSAGE)
    else:
        response = render(request, "account_reset_form.html", username=username, errors={})
    response.headers.update(NO_STORE)
    return response


@router.post("/reset/{token}", response_class=HTMLResponse)
def reset_password(request: Request, token: str, _csrf: CsrfDep,
                   new_password: FormText = "") -> Response:
    engine = _engine(request)
    with read_transaction(engine) as conn:
        username = resets.reset_username(conn, token)
    try:
        if username is None:
            raise AccountError(resets.SPENT_MESSAGE, "")
        hashed = accounts.prepare_password(new_password, username, "new_password")
        with write_transaction(engine, changes=None) as conn:  # the link, the hash, sessions
            resets.complete_reset(conn, token, hashed)
    except AccountError as exc:
        if exc.field != "new_password":
            return render(request, "error.html", 410, title="Link expired", message=exc.message)
        response = render(request, "account_reset_form.html", 400, username=username,
                          errors={exc.field: exc.message})
        response.headers.update(NO_STORE)
        return response
    response = RedirectResponse("/login?done=reset", status_code=303)
    clear_session_cookie(request, response)
    return response


# --- API ------------------------------------------------------------------------------------

_ME_SCHEMA = {
    "type": "object", "required": ["id", "username", "isAdmin", "isModerator"],
    "properties": {"id": {"type": "integer"}, "username": {"type": "string"},
                   "isAdmin": {"type": "boolean"}, "isModerator": {"type": "boolean"}},
}


@api_router.get(
    "/api/v1/me", summary="The account of this API token",
    responses={200: {"description": "The account the token belongs to.",
                     "content": {"application/json": {"schema": _ME_SCHEMA}}},
               **AUTH_RESPONSES},
    openapi_extra={"security": [{"apiToken": []}]},
)
def me(user: RequireUser) -> JSONResponse:
    return JSONResponse({"id": user.id, "username": user.username, "isAdmin": user.is_admin,
                         "isModerator": user.is_moderator})
