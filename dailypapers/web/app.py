"""The ASGI app: one object holding the engine, settings and templates; routes stay thin."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import gc
import hashlib
import logging
import re
from collections.abc import AsyncIterator
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jinja2
import jinja2.bccache
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Engine
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dailypapers import __version__
from dailypapers.cli_errors import _first_line
from dailypapers.community.ratelimit import RateLimiter
from dailypapers.db.engine import make_engine
from dailypapers.logs import configure as configure_logging
from dailypapers.notify.mail import backend_from_settings
from dailypapers.settings import Settings, get_settings
from dailypapers.web import filters, fragments, observability
# Route modules import these from web/deps.py; the names stay importable from here too.
from dailypapers.web.deps import (  # noqa: F401
    ConnDep, RateLimited, SignInRequired, api_error, is_api, public_base, public_url, render,
    single_valued_api_parameters,
)
from dailypapers.web.security import SecurityHeaders
from dailypapers.web.json_response import JSONResponse
from dailypapers.web.request_reads import AppRoute
from dailypapers.web.entries_cache import EntriesCache
from dailypapers.web.version_memo import VersionMemo

HERE = Path(__file__).resolve().parent
# The cyclic collector's thresholds while the app serves (CPython's default: 700, 10, 10).
# Renders allocate ~45,000 objects a second per web process under bench/load.py, and the
# caches keep many of them, so with the default a full collection ran about once a second
# and held the interpreter ~55 ms of CPU each: every request in flight waited. With these,
# a young collection takes a few ms and none was full in 30 s; the static file's p99 there
# went from 73-81 ms to 38-46 ms.
SERVING_GC_THRESHOLDS = (10_000, 20, 10)


class _CompiledTemplates(jinja2.BytecodeCache):
    """Templates compiled once per process, not once per app: every app's environment is set up
    alike, and Jinja recompiles a template whose source changed (its checksum is in the
    bucket). One app per process in production; the tests build hundreds, and compiling a
    page's templates was half of each one's first request."""

    def __init__(self) -> None:
        self.compiled: dict[str, bytes] = {}

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        if bucket.key in self.compiled:
            bucket.bytecode_from_string(self.compiled[bucket.key])

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        self.compiled[bucket.key] = bucket.bytecode_to_string()


_COMPILED_TEMPLATES = _CompiledTemplates()


def create_app(
    settings: Settings | None = None, engine: Engine | None = None, *,
    background: Any = None, search: Any = None, index_worker: bool = False,
    own_logging: bool = False,
) -> FastAPI:
    """Build the app. ``background`` (one job or a list: the sync scheduler) is started with the
    app and stopped with it; ``index_worker`` adds the thread that keeps the search indexes
    caught up and embeds new papers. ``own_logging``: the app is its process's server (``serve``
    and its worker processes) and sets up the process's log lines when it starts (logs.py);
    tests and embedders leave logging as they have it."""
    from dailypapers.index.search import SearchService
    from dailypapers.index.worker import IndexWorker

    settings = settings or get_settings()
    engine = engine or make_engine(settings.effective_database_url, **settings.engine_options)
    search = search or SearchService.from_settings(engine, settings)
    jobs = list(background) if isinstance(background, (list, tuple)) else (
        [background] if background is not None else [])
    # With a task queue, workers embed (queue.py); this process only catches up.
    keeper = IndexWorker(search, interval=settings.index_interval_seconds,
                         embed=settings.embed_in_background and not settings.queue_url
                         ) if index_worker else None
    if keeper is not None:
        jobs.append(keeper)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # What start-up allocated (modules, templates, the demo import) lives as long as the
        # server: keep it out of the cyclic collector's full passes, the cause of 90-470 ms
        # spikes every ~100 requests in bench/page_speed.py.
        gc.freeze()
        thresholds_before = gc.get_threshold()
        gc.set_threshold(*SERVING_GC_THRESHOLDS)
        if own_logging:
            configure_logging(settings.log_format)
        for job in jobs:
            job.start()
        try:
            yield
        finally:
            # Refreshes of stale answers (web/cache.py) still running finish first, as
            # requests in flight do: bounded like a request's wait for a connection.
            refreshes = list(getattr(_app.state, "cache_refreshes", ()))
            if refreshes:
                await asyncio.wait(refreshes, timeout=settings.db_pool_timeout_seconds)
            for job in jobs:
                job.stop()
            gc.set_threshold(*thresholds_before)  # the process may go on (tests, embedders)
            arxiv_client = getattr(_app.state, "arxiv_client", None)  # web/routes_submit.py
            if arxiv_client is not None:
                arxiv_client.close()

    app = FastAPI(  # /api/docs is ours (_install_docs): FastAPI's loads Swagger UI from a CDN
        title=settings.site_name, version=__version__, lifespan=lifespan, docs_url=None,
        redoc_url=None, openapi_url="/api/openapi.json",
        dependencies=[Depends(single_valued_api_parameters)],
        default_response_class=JSONResponse,  # web/json_response.py
    )
    app.router.route_class = AppRoute  # web/request_reads.py (the routers set it too)
    app.state.settings = settings
    app.state.engine = engine
    app.state.search = search
    app.state.jobs = jobs
    app.state.index_worker = keeper  # /readyz waits for its first catch-up
    app.state.rate_limiter = RateLimiter(settings.ratelimit_storage)
    # "Now" for rules that depend on the date (a submission's age, today's list): tests set it.
    app.state.clock = lambda: dt.datetime.now(dt.timezone.utc)
    app.state.mail_backend = backend_from_settings(settings)
    app.state.mail_queue = None  # without a task queue, routes send their mail themselves
    if settings.queue_url:
        from dailypapers.queue import MailEnqueuer

        app.state.mail_queue = MailEnqueuer(settings)
    redact_reset_links_in_access_log()
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.bytecode_cache = _COMPILED_TEMPLATES
    # Templates ship with the package: no stat() of each file on every render (a restart loads
    # new ones).
    templates.env.auto_reload = False
    filters.install(templates.env)
    templates.env.globals.update(site_name=settings.site_name, version=__version__,
                                 static_url=static_url)
    fragments.install(templates.env, app.state, settings)  # paper_card, and its store
    # reads only a data-version move changes (web/version_memo.py); keyed like the cache
    app.state.version_memo = VersionMemo() if settings.cache_bytes > 0 else None
    # a period's entries, kept across the votes that end its page (web/entries_cache.py)
    app.state.entries_cache = (EntriesCache.for_cache_bytes(settings.cache_bytes)
                               if settings.cache_bytes > 0 else None)
    app.state.templates = templates
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")

    from dailypapers.web import (
        routes_account, routes_api, routes_collections, routes_comments, routes_feeds,
        routes_health, routes_jobs, routes_media, routes_moderation, routes_pages,
        routes_search, routes_submit, routes_subscribe, routes_users, routes_votes,
    )

    routes_collections.install_template_globals(templates.env)  # the cards' collection form
    # First: /api/v1/papers/{id:path} (routes_votes) would match ".../comments".
    app.include_router(routes_comments.router)
    app.include_router(routes_votes.router)  # before /papers/{id:path}, which would match ".../vote"
    app.include_router(routes_collections.router)  # before /papers/{id:path} too (".../collect")
    app.include_router(routes_search.router)  # before /api/papers/{id}, which would match "search"
    app.include_router(routes_api.router)
    app.include_router(routes_moderation.router)
    app.include_router(routes_feeds.router)
    app.include_router(routes_feeds.search_router)
    app.include_router(routes_pages.router)
    app.include_router(routes_account.router)
    app.include_router(routes_account.api_router)
    app.include_router(routes_submit.router)
    app.include_router(routes_users.router)
    routes_media.install(app, templates)
    app.include_router(routes_subscribe.router)
    app.include_router(routes_health.router)
    app.include_router(routes_jobs.router)
    _install_docs(app)
    _install_error_handlers(app)
    _install_database_unavailable(app)
    _document_400_not_422(app)
    from dailypapers.web import cache

    cache.install(app, settings, engine, search)  # inside HeadAsGet: HEAD is served as GET
    app.add_middleware(HeadAsGet)
    _wrap_outermost(app, lambda inner: SecurityHeaders(inner, settings.allowed_hosts))
    observability.install(app)  # /metrics, and request ids, access lines, metrics: outermost
    return app


def _wrap_outermost(app: FastAPI, wrap: Any) -> None:
    """Put ``wrap`` around Starlette's whole stack. ``add_middleware`` would sit inside its
    ServerErrorMiddleware, whose 500 answers would then leave without our headers."""
    build = app.build_middleware_stack
    app.build_middleware_stack = lambda: wrap(build())  # type: ignore[method-assign]


@lru_cache(maxsize=None)
@functools.lru_cache(maxsize=256)  # shipped files do not change while the server runs
def static_url(path: str) -> str:
    """``/static/<path>?v=<content hash>``: a new URL whenever the file changes, so browsers
    may keep each one a year (web/security.py) and never run a stale script after an upgrade."""
    digest = hashlib.sha256((HERE / "static" / path).read_bytes()).hexdigest()[:12]
    return f"/static/{path}?v={digest}"


def _install_docs(app: FastAPI) -> None:
    """Swagger UI from /static/vendor/swagger-ui/, started by a script file: no CDN, and no
    inline script for the Content-Security-Policy to allow."""

    @app.get("/api/docs", response_class=HTMLResponse, include_in_schema=False)
    def api_docs(request: Request) -> HTMLResponse:
        return render(request, "api_docs.html", openapi_url=app.openapi_url)


class HeadAsGet:
    """Answer HEAD as GET without the body: same status and headers (Content-Length included).

    FastAPI routes registered with GET refuse HEAD (405), yet uptime monitors and link checkers
    send it. A route that does not answer GET still refuses it (405, never a 200)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] != "http" or scope["method"] != "HEAD"
                or scope["path"].startswith("/static/")):  # StaticFiles answers HEAD itself
            await self.app(scope, receive, send)
            return

        async def send_headers_only(message: Message) -> None:
            if message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return  # one empty final body message below is enough
                message = {"type": "http.response.body", "body": b""}
            elif message["type"] == "http.response.pathsend":
                message = {"type": "http.response.body", "body": b""}
            await send(message)

        as_get = {**scope, "method": "GET"}
        try:
            await self.app(as_get, receive, send_headers_only)
        finally:  # the route that answered, for the metrics (web/observability.py)
            if "route" in as_get:
                scope["route"] = as_get["route"]


def _document_400_not_422(app: FastAPI) -> None:
    """FastAPI documents a 422 for every route with a declared parameter; ours answer 400
    instead (``_install_error_handlers``), so the document drops it. It also gains the answers'
    schemas (web/api_schemas.py), which the routes name by reference."""
    from dailypapers.web.api_schemas import COMPONENTS

    build = app.openapi

    def openapi() -> dict[str, Any]:
        schema = build()  # cached by FastAPI: this runs on the same dict each time
        schema.setdefault("components", {}).setdefault("schemas", {}).update(COMPONENTS)
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                operation.get("responses", {}).pop("422", None)
        schema["components"].setdefault("securitySchemes", {})["apiToken"] = {
            "type": "http", "scheme": "bearer",
            "description": "A personal API token, made on /account (shown once).",
        }
        components = schema.get("components", {}).get("schemas", {})
        for name in ("HTTPValidationError", "ValidationError"):
            components.pop(name, None)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(SignInRequired)
    async def _sign_in(request: Request, exc: SignInRequired):  # type: ignore[no-untyped-def]
        query = f"?{urlencode({'next': exc.next_path})}" if exc.next_path else ""
        return RedirectResponse(f"/login{query}", status_code=303)

    @app.exception_handler(RateLimited)
    async def _rate_limited(request: Request, exc: RateLimited):  # type: ignore[no-untyped-def]
        headers = {"Retry-After": str(exc.retry_after)}
        if is_api(request):
            return api_error(429, exc.what, headers=headers)
        response = render(request, "error.html", 429, title="Too many attempts", message=exc.what)
        response.headers.update(headers)
        return response

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):  # type: ignore[no-untyped-def]
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err.get('loc', ())[1:]) or 'request'}: {err.get('msg')}"
            for err in exc.errors()
        )
        if is_api(request):
            return api_error(400, problems or "invalid request")
        return render(request, "error.html", 400, title="Bad request", message=problems)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):  # type: ignore[no-untyped-def]
        message = exc.detail if isinstance(exc.detail, str) else "error"
        if is_api(request):
            return JSONResponse({"error": message}, status_code=exc.status_code,
                                headers=getattr(exc, "headers", None))
        title = {404: "Not found", 400: "Bad request", 405: "Method not allowed"}.get(
            exc.status_code, "Error"
        )
        return render(request, "error.html", exc.status_code, title=title, message=message)


DATABASE_RETRY_AFTER_SECONDS = 5
_UNAVAILABLE = "The database cannot be reached just now; try again in a few seconds."
log = logging.getLogger("dailypapers.web")


def _install_database_unavailable(app: FastAPI) -> None:
    """The database cannot be reached (down, restarting, past the connect timeout, the pool
    exhausted): a 503 the client may retry, not a 500 with a traceback. SQLite's "database is
    locked" (a writer held the file past the 30 s busy timeout) lands here too, as temporary."""

    async def unavailable(request: Request, exc: Exception):  # type: ignore[no-untyped-def]
        log.warning("database unavailable for %s %s: %s", request.method, request.url.path,
                    _first_line(exc))
        headers = {"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS), "Cache-Control": "no-store"}
        if is_api(request):
            return api_error(503, _UNAVAILABLE, headers=headers)
        # No user: finding one needs the database (the page shows "Sign in" meanwhile).
        request.state.user, request.state.session = None, None
        response = render(request, "error.html", 503, title="Temporarily unavailable",
                          message=_UNAVAILABLE, csrf_token="")
        response.headers.update(headers)
        return response

    for error in (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError):
        app.add_exception_handler(error, unavailable)


class _RedactResetTokens(logging.Filter):
    """Access log lines show ``/reset/…`` (and the subscription links' ``/unsubscribe/…``…)
    instead of the token: the link is a credential."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(
                isinstance(arg, str) and _RESET_TOKEN.search(arg) for arg in record.args):
            record.args = tuple(_RESET_TOKEN.sub(r"\1…", arg) if isinstance(arg, str) else arg
                                for arg in record.args)
        return True


_RESET_TOKEN = re.compile(
    r"(/reset/|/subscribe/confirm/|/unsubscribe/|/subscription/)[^/?#\s\"]+")


def redact_reset_links_in_access_log() -> None:
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, _RedactResetTokens) for f in access.filters):
        access.addFilter(_RedactResetTokens())
