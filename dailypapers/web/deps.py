"""Request dependencies: connections, the current user, CSRF, and the answer helpers routes share.

Route modules import from here, never from ``web/app.py`` (which imports the routes).

- ``ConnDep``: a read transaction for the request.
- ``WriteConnDep``: one write transaction for the request (``db.engine.write_transaction``),
  committed when the route returns, *before* the answer is sent (so the next request sees the
  write), rolled back when it raises. Work that must follow the commit (mail, or with a task
  queue the mail's enqueue) goes in FastAPI's ``BackgroundTasks``, which run after the answer.
  ``PrivateWriteConnDep``: the same for a write no anonymous answer shows (sessions, tokens,
  subscriptions): it moves no data version, so the cached anonymous answers stay (web/cache.py).
- ``CurrentUser`` (``User | None``) and ``RequireUser`` (``User``). Pages know the user by the
  session cookie; ``/api/`` paths only by ``Authorization: Bearer <personal API token>`` and
  ignore cookies, so no API call is ever made with a browser's ambient credentials (and the API
  needs no CSRF token). ``RequireUser`` without a user: pages redirect to ``/login``, the API
  answers 401.
- ``CsrfDep``: every state-changing form carries ``csrf_token``. Signed in, it is the session's
  own secret (synchronizer token); signed out (sign-up, sign-in, reset), an HMAC under
  DAILYPAPERS_SECRET_KEY of a random cookie (signed double-submit). Missing or wrong: 403.
  Templates get the right value as ``{{ csrf_token }}`` from :func:`render`.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import secrets
from collections.abc import AsyncIterator, Iterator
from collections.abc import Callable
from typing import Annotated, Any, TypeVar
from urllib.parse import urlencode

from fastapi import Depends, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy.engine import Connection, Engine

from dailypapers.community.secret_key import load_secret_key
from dailypapers.community.sessions import SessionUser, user_for_api_token, user_for_session
from dailypapers.community.users import User
from dailypapers.db.engine import read_transaction, write_transaction
from dailypapers.settings import Settings
from dailypapers.web.cache import PRIVATE, mark_personal
from dailypapers.web.params import ApiError
from dailypapers.web.request_reads import LazyRead, per_loop_semaphore
from dailypapers.web.json_response import JSONResponse

__all__ = [
    "ConnDep", "WriteConnDep", "PrivateWriteConnDep", "CurrentUser", "RequireUser", "CsrfDep",
    "User", "SignInRequired",
    "render", "api_error", "is_api", "public_base", "public_url", "get_connection",
    "request_reader",
    "get_write_connection", "get_private_write_connection", "current_user", "require_user",
    "check_csrf", "csrf_token_for",
    "set_session_cookie", "clear_session_cookie", "session_cookie_name", "session_token",
    "secret_key", "RateLimited", "rate_limit", "client_address", "safe_next", "write_in_request", "AUTH_RESPONSES",
    "single_valued_api_parameters", "write_gate",
]

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_UNRESOLVED = object()


# --- connections -----------------------------------------------------------------------------


T = TypeVar("T")

async def get_connection(request: Request) -> AsyncIterator[Connection]:
    """The request's read transaction (web/request_reads.py): nothing is checked out here, on
    the event loop; the route's thread opens it at its first read and ends it as it returns
    (``AppRoute``). What is still open when the answer has gone (the dependency's default
    scope) is ended here, in a thread."""
    reader = LazyRead(request.app.state.engine)
    request.state.read_connection = reader  # for the page's templates: see request_reader
    failed = False
    try:
        yield reader  # type: ignore[misc]
    except BaseException:
        failed = True
        raise
    finally:
        request.state.read_connection = None
        if reader.opened:
            await run_in_threadpool(reader.end, failed)


@contextlib.contextmanager
def request_reader(request: Request) -> Iterator[Connection]:
    """The request's own read transaction (``ConnDep``) while it is open, else one of its own.
    A template helper that read through a transaction of its own held a second pooled
    connection while the page's was checked out."""
    conn = getattr(request.state, "read_connection", None)
    if conn is not None and not conn.ended:
        yield conn
        return
    with read_transaction(request.app.state.engine) as conn:
        yield conn


# Writers wait for their turn here, on the event loop, before they take a thread. The route and
# its dependency run in different threadpool threads; when each waiting writer held a thread
# (blocked in BEGIN IMMEDIATE on SQLite, in the pool's checkout on PostgreSQL), 40 of them (the
# threadpool's size) left none for the writer holding the lock, which waited in turn: 64
# concurrent writes stalled for SQLite's 30 s busy timeout, then failed. SQLite: one writer at
# a time (the database's own rule); PostgreSQL: as many as the pool has connections.
def _write_capacity(engine: Engine) -> int:
    if engine.dialect.name == "sqlite":
        return 1
    pool = engine.pool
    size, overflow = getattr(pool, "size", lambda: 0)(), getattr(pool, "_max_overflow", -1)
    return size + overflow if size > 0 and overflow >= 0 else 0  # 0: no bound known


def write_gate(request: Request) -> contextlib.AbstractAsyncContextManager[Any]:
    """Hold it (``async with``) around the thread that runs a write transaction."""
    engine: Engine = request.app.state.engine
    capacity = _write_capacity(engine)
    if not capacity:
        return contextlib.nullcontext()
    return per_loop_semaphore(request.app.state, "write_gates", capacity)


def _write_connection(changes: str | None) -> Callable[[Request], AsyncIterator[Connection]]:
    """The dependency of a request's write transaction that counts as ``changes``
    (``write_transaction``'s: None for a write no anonymous answer shows)."""
    async def dependency(request: Request) -> AsyncIterator[Connection]:
        async with write_gate(request):
            transaction = write_transaction(request.app.state.engine, changes=changes)
            conn = await run_in_threadpool(transaction.__enter__)
            try:
                yield conn
                await run_in_threadpool(_touch_api_token, request, conn)
            except BaseException as exc:
                if not await run_in_threadpool(transaction.__exit__, type(exc), exc,
                                               exc.__traceback__):
                    raise
            else:
                await run_in_threadpool(transaction.__exit__, None, None, None)
    return dependency


get_write_connection = _write_connection("data")
# Sessions, tokens, subscriptions: rows no anonymous answer reads, so the response cache stays.
get_private_write_connection = _write_connection(None)

ConnDep = Annotated[Connection, Depends(get_connection)]
# scope="function": the transaction ends when the route returns, before the answer leaves.
WriteConnDep = Annotated[Connection, Depends(get_write_connection, scope="function")]
PrivateWriteConnDep = Annotated[Connection,
                                Depends(get_private_write_connection, scope="function")]


# --- answers ---------------------------------------------------------------------------------


def is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def api_error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def public_base(request: Request) -> str:
    """This site's address for absolute links: DAILYPAPERS_BASE_URL when it is set, else the
    address the server socket answered on (``serve --port 9000`` links to port 9000). Never
    the request's Host header, which anyone can set: a cache would keep their host in our
    links and hand it to everyone."""
    settings: Settings = request.app.state.settings
    server = request.scope.get("server")
    if "base_url" in settings.model_fields_set or not server or server[1] is None:
        return settings.base_url
    # http: the scope's scheme may come from X-Forwarded-Proto, a header again; a site served
    # over TLS sets DAILYPAPERS_BASE_URL.
    host, port = server
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}" + ("" if port == 80 else f":{port}")


def public_url(request: Request, path: str, query: dict[str, str] | None = None) -> str:
    """An absolute URL of this site (see :func:`public_base`)."""
    return public_base(request) + path + (f"?{urlencode(query)}" if query else "")


async def single_valued_api_parameters(request: Request) -> None:
    """Every API parameter is one value (the OpenAPI description says so); ``?limit=5&limit=500``
    is a 400 naming it, rather than whichever value the parser keeps."""
    if not is_api(request):
        return
    seen: set[str] = set()
    for name, _value in request.query_params.multi_items():
        if name in seen:
            raise HTTPException(400, f"{name}: given more than once")
        seen.add(name)


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    templates: Jinja2Templates = request.app.state.templates
    context.setdefault("base_url", public_base(request))  # for canonical links
    context.setdefault("current_user", resolve_user(request))
    context.setdefault("csrf_token", _LazyCsrfToken(request))
    if context["current_user"] is not None:
        context.setdefault("voted", _VotedPapers(request, context))
    response = templates.TemplateResponse(request, template, context, status_code=status_code)
    _set_pending_csrf_cookie(request, response)
    if context["current_user"] is not None:  # a page with someone's name in it: no shared cache
        mark_personal(request)
        response.headers["Cache-Control"] = PRIVATE
        response.headers["Vary"] = "Cookie"
    return response


# --- who is asking ---------------------------------------------------------------------------


def _secure(settings: Settings) -> bool:
    return settings.base_url.startswith("https://")


def _cookie_name(settings: Settings, base: str) -> str:
    # __Host-: the browser only accepts it Secure, for Path=/, without Domain, so no subdomain
    # can plant or widen it.
    return f"__Host-{base}" if _secure(settings) else base


def session_cookie_name(settings: Settings) -> str:
    return _cookie_name(settings, "dp_session")


def _csrf_cookie_name(settings: Settings) -> str:
    return _cookie_name(settings, "dp_csrf")


def session_token(request: Request) -> str:
    return request.cookies.get(session_cookie_name(request.app.state.settings), "")


def set_session_cookie(request: Request, response: Response, token: str) -> None:
    settings: Settings = request.app.state.settings
    response.set_cookie(session_cookie_name(settings), token,
                        max_age=int(settings.session_days * 86400), path="/",
                        secure=_secure(settings), httponly=True, samesite="lax")


def clear_session_cookie(request: Request, response: Response) -> None:
    settings: Settings = request.app.state.settings
    response.delete_cookie(session_cookie_name(settings), path="/", secure=_secure(settings),
                           httponly=True, samesite="lax")


def _bearer_token(request: Request) -> str:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


def resolve_user(request: Request) -> User | None:
    """The user of this request (looked up once, then kept on ``request.state``)."""
    cached = getattr(request.state, "user", _UNRESOLVED)
    if cached is not _UNRESOLVED:
        return cached  # type: ignore[return-value]
    user: User | None = None
    request.state.session = None
    if is_api(request):
        token = _bearer_token(request)
        if token:
            with request_reader(request) as conn:
                found = user_for_api_token(conn, token)
            if found is not None:
                user, request.state.api_token = found[0], found[1:]
    else:
        token = session_token(request)
        if token:
            with request_reader(request) as conn:
                session: SessionUser | None = user_for_session(conn, token)
            if session is not None:
                user, request.state.session = session.user, session
    request.state.user = user
    return user


async def current_user(request: Request) -> User | None:
    """The dependency: a request without credentials is answered on the event loop (a thread
    of the threadpool for each anonymous page was a hand-off for nothing); a lookup runs in one."""
    if getattr(request.state, "user", _UNRESOLVED) is _UNRESOLVED and not (
            _bearer_token(request) if is_api(request) else session_token(request)):
        request.state.session = request.state.user = None
    if getattr(request.state, "user", _UNRESOLVED) is not _UNRESOLVED:
        return request.state.user  # type: ignore[no-any-return]
    return await run_in_threadpool(resolve_user, request)


class SignInRequired(Exception):
    """Raised by ``RequireUser`` on a page: the app answers with a redirect to /login."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


async def require_user(request: Request,
                       user: Annotated[User | None, Depends(current_user)]) -> User:
    if user is not None:
        return user
    if is_api(request):
        raise HTTPException(401, "sign in required: send Authorization: Bearer <API token> "
                                 "(create one on /account)",
                            headers={"WWW-Authenticate": "Bearer"})
    raise SignInRequired(request.url.path if request.method == "GET" else "")


CurrentUser = Annotated[User | None, Depends(current_user)]
RequireUser = Annotated[User, Depends(require_user)]

# The 401 of an /api/v1 route that takes RequireUser, for its decorator's ``responses``.
AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {401: {
    "model": ApiError,
    "description": "No valid API token: send Authorization: Bearer <token> (made on /account).",
    "headers": {"WWW-Authenticate": {"schema": {"type": "string"}}},
}}


def _touch_api_token(request: Request, conn: Connection) -> None:
    """Stamp ``api_tokens.last_used_at``: only from a write transaction (never on GET)."""
    found = getattr(request.state, "api_token", None)
    if found:
        from dailypapers.community.sessions import touch_api_token

        touch_api_token(conn, *found)


def write_in_request(request: Request, work: Callable[[Connection], T], *,
                     changes: str | None = "data") -> T:
    """``work`` in one write transaction opened here, so that lock and work share the caller's
    thread (routes_votes.py says why), with the API token used, if any, stamped in it;
    committed before the answer. An exception from ``work`` rolls it all back. ``changes``:
    as ``write_transaction``'s (None: no anonymous answer shows the write)."""
    from dailypapers.db.engine import write_transaction

    with write_transaction(request.app.state.engine, changes=changes) as conn:
        result = work(conn)
        _touch_api_token(request, conn)
    return result


# --- CSRF ------------------------------------------------------------------------------------


def secret_key(request: Request) -> bytes:
    key = getattr(request.app.state, "secret_key", None)
    if key is None:
        key = request.app.state.secret_key = load_secret_key(request.app.state.settings)
    return key


def _anonymous_token(request: Request, cookie: str) -> str:
    return hmac.new(secret_key(request), b"csrf:" + cookie.encode(), hashlib.sha256).hexdigest()


def csrf_token_for(request: Request) -> str:
    """The value this request's forms must send back as ``csrf_token``."""
    mark_personal(request)  # a page that prints it is this visitor's: never shared
    resolve_user(request)
    session: SessionUser | None = request.state.session
    if session is not None:
        return session.csrf_secret
    cookie = request.cookies.get(_csrf_cookie_name(request.app.state.settings), "")
    if not cookie or len(cookie) > 64:
        cookie = getattr(request.state, "new_csrf_cookie", "") or secrets.token_urlsafe(24)
        request.state.new_csrf_cookie = cookie
    return _anonymous_token(request, cookie)


class _VotedPapers:
    """``paper_id in voted``: has the signed-in user upvoted it (the pressed vote buttons).
    Looked up once, for the page's cards (``entries``, search ``rows``) and ``paper``, when a
    template first asks; pages without a vote button query nothing."""

    def __init__(self, request: Request, context: dict[str, Any]) -> None:
        self._request, self._context = request, context
        self._ids: set[str] | None = None

    def _load(self) -> set[str]:
        from dailypapers.community.votes import voted_papers

        ids = [entry.paper["id"] for entry in self._context.get("entries") or ()
               if getattr(entry, "paper", None) is not None]
        ids += [row["paper"]["id"] for row in self._context.get("rows") or ()
                if isinstance(row, dict) and row.get("paper") is not None]  # search results
        paper = self._context.get("paper")
        if paper is not None:
            ids.append(paper["id"])
        user = self._context["current_user"]
        with request_reader(self._request) as conn:
            return voted_papers(conn, user.id, list(dict.fromkeys(ids)))

    def __contains__(self, paper_id: object) -> bool:
        if self._ids is None:
            self._ids = self._load()
        return paper_id in self._ids


class _LazyCsrfToken:
    """Computed when a template prints it, so pages without a form set no cookie."""

    def __init__(self, request: Request) -> None:
        self._request = request

    def __str__(self) -> str:
        return csrf_token_for(self._request)

    __html__ = __str__  # hex or url-safe base64: nothing to escape


def _set_pending_csrf_cookie(request: Request, response: Response) -> None:
    cookie = getattr(request.state, "new_csrf_cookie", "")
    if cookie:
        settings: Settings = request.app.state.settings
        response.set_cookie(_csrf_cookie_name(settings), cookie, path="/", httponly=True,
                            secure=_secure(settings), samesite="lax")


def _csrf_ok(request: Request, sent: str) -> bool:
    session: SessionUser | None = request.state.session
    if session is not None:
        return hmac.compare_digest(sent.encode(), session.csrf_secret.encode())
    cookie = request.cookies.get(_csrf_cookie_name(request.app.state.settings), "")
    if not cookie or len(cookie) > 64:
        return False
    return hmac.compare_digest(sent.encode(), _anonymous_token(request, cookie).encode())


async def check_csrf(request: Request) -> None:
    if request.method in SAFE_METHODS or is_api(request):
        return  # the API authenticates by header only: nothing a forged request could carry
    sent = request.headers.get(CSRF_HEADER, "")
    if not sent:
        form = await request.form()
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else ""
    await run_in_threadpool(resolve_user, request)
    if not sent or len(sent) > 128 or not _csrf_ok(request, sent):
        raise HTTPException(403, "the form's security token is missing or stale: "
                                 "reload the page and send it again")


CsrfDep = Annotated[None, Depends(check_csrf)]


# --- rate limits -----------------------------------------------------------------------------


class RateLimited(Exception):
    """Raised by :func:`rate_limit`: the app answers 429 with ``Retry-After``."""

    def __init__(self, retry_after: float, what: str) -> None:
        super().__init__(what)
        self.retry_after = int(retry_after)
        self.what = what


def client_address(request: Request) -> str:
    # The socket's peer. Behind a reverse proxy every request comes from the proxy: it must
    # limit per address itself (a forwarded header is anyone's to forge).
    return request.client.host if request.client else "unknown"


def rate_limit(request: Request, rules: str, scope: str, key: str, *, count: bool = True) -> None:
    """Count one attempt of ``scope`` by ``key`` against ``rules`` (a setting's value), or raise
    :class:`RateLimited`. ``count=False`` only checks (count failures later with ``count=True``)."""
    limiter = request.app.state.rate_limiter
    waiting = (limiter.hit if count else limiter.check)(rules, scope, key)
    if waiting is not None:
        raise RateLimited(waiting, f"too many attempts; try again in {int(waiting)} seconds")


def safe_next(target: str | None, default: str = "/papers") -> str:
    """A local path to go to after signing in: never another site (``//host``, ``/\\host``)."""
    if not target or len(target) > 2000 or not target.startswith("/") \
            or target.startswith("//") or any(c in target for c in "\\\r\n\t"):
        return default
    return target
