"""Caching that is safe: validators and Cache-Control on dynamic answers, and an in-process cache
of anonymous answers that a write in any process invalidates at once.

What a browser or a reverse proxy is told (GET and HEAD; web/security.py adds the rest):

- An anonymous answer 200: an ``ETag`` (a hash of the body, or the route's own), ``Cache-Control:
  public, no-cache`` (a shared cache may keep it but asks us each time; the answer to a matching
  ``If-None-Match`` is a 304 without a body) and ``Vary: Cookie`` (``Cookie, Authorization``
  under /api/), so a proxy never hands it to someone signed in.
- A request carrying the session cookie or an ``Authorization`` header, an answer that depends on
  the visitor (it sets a cookie, prints their CSRF token: ``mark_personal``), or a path whose link
  is a credential: ``private, no-store`` and the same ``Vary``. Nothing of it is kept here.
- Errors (4xx, 5xx) are ``no-store`` whatever the route said (web/security.py, outermost, so a
  500 too).

The server-side cache: a bounded LRU (``DAILYPAPERS_CACHE_BYTES`` per process) of anonymous 200
answers keyed by (data version, path, query). Nothing else in a request
changes an anonymous answer: no route reads Accept or other request headers, and absolute links
come from DAILYPAPERS_BASE_URL or the server socket, never the Host header.

How it is invalidated (db/data_version.py has the details):

- Every write transaction that may change a public answer (imports and syncs, comments,
  moderation, submissions, collections, media, new accounts) moves the *data* version in the
  same transaction; a private one (sessions, tokens, subscriptions, flags, bookkeeping) moves
  none, so it leaves the cached answers (db/data_version.py lists them). Each request reads
  the versions first, from the database, so a write committed by any process before a request
  arrives changes that request's key: it can only miss, and renders from rows at least that
  new. Concurrent requests share one read (:class:`VersionReader`).
  On PostgreSQL the write also NOTIFYs, and a listening thread per process
  (db/version_listener.py) lets a request reuse the last read while nothing arrived: no round
  trip on a hit. The price is a bound instead of "before the request arrived": another process's
  write shows once its notification reached this process (under a millisecond idle, a few on
  busy cores); this process's own writes at once; with the listener down, every request reads.
- Paper votes move the *votes* version instead. An answer of :data:`VOTES_OF_ROWS_READ` (the
  listings, paper pages, search and their API twins, whose vote counts and vote orders all come
  from paper rows the catalog notes) keeps the vote stamps of the rows it read, and a hit first
  checks them (skipped while the votes version has not moved since the last check): a vote on
  another paper leaves it cached. On PostgreSQL, while the version listener stays connected, the
  check asks the process's log of voted papers (``data_version.VOTE_LOG``) instead of the
  database; else it reads the stamps in one query. Any other answer, or one whose selection depended on
  votes (``note_all_votes``), is good only at the votes version it was made at.
- The search indexes lag the rows by up to DAILYPAPERS_INDEX_INTERVAL_SECONDS anyway. An answer
  that used a part of this process's indexes notes that part's state (index/search.py's
  ``index_tokens``: the keyword index's text, its every change, the vectors), and a hit first
  checks that those parts have not moved since: a vote, which moves a document's upvotes in the
  keyword index, ends only answers ranked by upvotes, and a page that used no index (a day's
  list) outlives every index change. Two things nothing announces: another process's keyword
  commit (our searcher sees it by tantivy's own reload) and the clock ("Today" on the latest
  list). An answer that used the keyword index or read the clock (``note_clock``) is dropped
  once older than DAILYPAPERS_CACHE_SECONDS; any other is kept until a write ends it (an hour
  at most, SAFETY_SECONDS: a net for a dependency nobody noted). A search cut short by its time
  budget is not kept.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from time import perf_counter  # bound here: tests replace this module's ``time`` with a clock
from typing import Any

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.engine import Engine
from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sqlalchemy import exc as sa_exc

from dailypapers import metrics
from dailypapers.db import data_version
from dailypapers.db.engine import read_transaction
from dailypapers.settings import Settings
from dailypapers.web.http_answers import PRIVATE, add_vary, answer, make_private, private
from dailypapers.web.lru import SizedLRU
from dailypapers.web.request_reads import per_loop_semaphore

PUBLIC = "public, no-cache"
# Links that are credentials (a password reset, a subscription's): never kept, anywhere.
PRIVATE_PREFIXES = ("/reset/", "/subscribe/confirm/", "/unsubscribe/", "/subscription/")
SAFETY_SECONDS = 3600.0  # the longest any answer is kept (see the docstring)
MAX_ENTRY_BYTES = 2 << 20  # a bigger answer (a media file) streams through, uncached
_PERSONAL = "dailypapers_personal"
# Whether this server had the answer (X-Cache, as proxies say it): for operators and the bench.
# /metrics counts the same per process (metrics.CacheMeters: dailypapers_response_cache_answers).
# SHARED: another web process had it (web/shared_cache.py).
HIT, MISS, SHARED = (b"x-cache", b"hit"), (b"x-cache", b"miss"), (b"x-cache", b"shared")
# STALE: kept, and a vote has changed it since; served while a refresh renders it anew
STALE = (b"x-cache", b"stale")
# What /metrics counts an answer from the store as (metrics.CACHE_OUTCOMES)
OUTCOME = {HIT: "hit", STALE: "stale", SHARED: "shared"}
# Paths whose answers read every paper they show or rank through catalog functions that note
# the rows (catalog._entries, get_paper, papers_by_ids): /papers and its day, week, month and
# trending lists (each reads its whole period, then pages it), paper pages (and their similar
# papers), search (the index ranks, the rows give the counts) and the API's twins.
VOTES_OF_ROWS_READ = re.compile(
    r"/papers(/.*)?|/search|/api/papers/.+|/api/v1/search|/api/daily_papers")
# Index parts another process may move without telling this one (index/search.py's tokens):
# the keyword folder is shared, the vectors are loaded by each process itself.
UNANNOUNCED_INDEXES = frozenset({"keyword", "text"})
# Probes and metrics read their own state each time (and /healthz touches no database).
UNCACHED_PROBES = frozenset({"/healthz", "/readyz", "/metrics"})
# scope["state"]: the data version this anonymous request was keyed on (web/fragments.py)
DATA_VERSION_STATE = "dailypapers_data_version"
log = logging.getLogger(__name__)
DATABASE_AWAY = (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError)


def mark_personal(request: Request) -> None:
    """This answer depends on who asks (their CSRF token, their name): private, never cached."""
    request.scope.setdefault("state", {})[_PERSONAL] = True


@dataclass
class Entry:
    stored_at: float
    headers: list[tuple[bytes, bytes]]
    body: bytes
    etag: bytes
    votes: int | None  # good only at this votes version; None: check ``stamps`` instead
    stamps: dict[str, tuple[Any, ...]]  # paper id: vote stamp, of the rows the answer read
    checked_at_votes: int  # the votes version at which ``stamps`` were last found current
    route: Any = None  # the route that rendered it: a hit is timed and counted under it too
    # (listener connection, VOTE_LOG.seq) taken before the answer's read; None: no listener
    vote_mark: tuple[int, int] | None = None
    indexes: dict[str, Any] | None = None  # the index parts it used, and their state then
    # it read what nothing announces (the keyword index, the clock): kept only max_age seconds
    unannounced: bool = True
    # when a vote was first found to have changed it (served for vote_lag seconds after: below)
    stale_since: float | None = None


class ResponseStore(SizedLRU):
    """The answers, none older than ``max_age``. Only the event loop's thread touches it."""

    def __init__(self, max_bytes: int, max_age: float) -> None:
        super().__init__(max_bytes, _size)
        self.max_age = max_age
        self.hits = self.misses = 0

    def get(self, key: tuple[Any, ...]) -> Entry | None:
        entry = super().get(key)
        if entry is not None and time.monotonic() - entry.stored_at > self.lifetime(
                entry.unannounced):
            self.discard(key)
            return None
        return entry

    def lifetime(self, unannounced: bool) -> float:
        """The longest an answer is kept, here or shared (see the module's docstring)."""
        return self.max_age if unannounced else max(self.max_age, SAFETY_SECONDS)


def _size(entry: Entry) -> int:
    return len(entry.body) + sum(len(n) + len(v) for n, v in entry.headers) + 200


class VersionReader:
    """The data version, one database read shared by the requests that wait for it.

    A read counts for a request only if it starts after the request arrived (then it sees every
    commit before that): a request joins a read that has not started yet, or opens the next.

    With a ``listener`` (PostgreSQL: db/version_listener.py) the last read is reused without a
    round trip while the listener is connected and neither a notification nor a commit of this
    process came since that read started (the listener's module gives the delivery bound)."""

    def __init__(self, engine: Engine, listener: Any = None) -> None:
        self.engine, self.listener = engine, listener
        self._waiting: asyncio.Future[tuple[int, int]] | None = None
        self._known: tuple[tuple[int, int], tuple[int, int]] | None = None  # (stamp, versions)
        self.reads = self.stamp_reads = 0

    def _listening(self) -> Any:
        """The listener while it is connected, else None."""
        listener = self.listener
        return listener if listener is not None and listener.connected else None

    def _stamp(self) -> tuple[int, int] | None:
        """What must not move for a read to stay current; None: no listener to tell us."""
        listener = self._listening()
        return None if listener is None else (listener.generation, data_version.local_writes())

    async def read(self) -> tuple[int, int]:
        """(data version, votes version)."""
        stamp = self._stamp()
        known = self._known
        if stamp is not None and known is not None and known[0] == stamp:
            return known[1]
        versions = await self._shared_read()
        # Taken before the read started: nothing arrived in between, so it is still current.
        if stamp is not None and self._stamp() == stamp:
            self._known = (stamp, versions)
        return versions

    async def _shared_read(self) -> tuple[int, int]:
        loop = asyncio.get_running_loop()
        waiting = self._waiting
        if waiting is not None and not waiting.done() and waiting.get_loop() is loop:
            return await asyncio.shield(waiting)
        future: asyncio.Future[tuple[int, int]] = loop.create_future()
        self._waiting = future
        try:
            await asyncio.sleep(0)  # let the requests that are ready now join this read
            self._waiting = None  # from here on the read may start: later arrivals need the next
            future.set_result(await run_in_threadpool(self._read))
        except BaseException as exc:  # the joiners fail as we do
            if self._waiting is future:
                self._waiting = None
            if isinstance(exc, asyncio.CancelledError):
                future.cancel()
            else:
                future.set_exception(exc)
                future.exception()  # retrieved: no "never retrieved" warning if nobody joined
            raise
        return future.result()

    def _read(self) -> tuple[int, int]:
        self.reads += 1
        with read_transaction(self.engine) as conn:
            return data_version.read(conn)

    def vote_mark(self) -> tuple[int, int] | None:
        """Where the vote log stands, while the listener is connected (else None). Taken before
        a read, a later vote on a paper the read saw is on the log after this mark."""
        listener = self._listening()
        return None if listener is None else (listener.connections, data_version.VOTE_LOG.seq)

    def votes_changed(self, ids: Any, mark: tuple[int, int] | None) -> bool | None:
        """Whether a paper of ``ids`` got a vote after ``mark``; None when the log cannot tell
        (the listener reconnected since, or the log forgot)."""
        if not self._log_tells(mark):
            return None
        return data_version.VOTE_LOG.changed_since(ids, mark[1])  # type: ignore[index]

    def voted_since(self, ids: Any, mark: tuple[int, int] | None) -> set[str] | None:
        """Which papers of ``ids`` got a vote after ``mark``; None when the log cannot tell."""
        if not self._log_tells(mark):
            return None
        return data_version.VOTE_LOG.voted_since(ids, mark[1])  # type: ignore[index]

    def _log_tells(self, mark: tuple[int, int] | None) -> bool:
        now = self.vote_mark()
        return (mark is not None and now is not None and now[0] == mark[0]
                and data_version.VOTE_LOG.knows_since(mark[1]))

    def stamps(self, ids: list[str]) -> dict[str, tuple[Any, ...]]:
        self.stamp_reads += 1
        with read_transaction(self.engine) as conn:
            return data_version.vote_stamps(conn, ids)


class ResponseCache:
    """The ASGI middleware (see the module's docstring)."""

    def __init__(self, app: ASGIApp, *, settings: Settings, store: ResponseStore,
                 versions: VersionReader, index_tokens: Callable[[], dict[str, Any]],
                 shared: Any = None, refreshes: set[asyncio.Task[None]] | None = None) -> None:
        self.app = app
        self.store, self.versions, self.index_tokens = store, versions, index_tokens
        self.shared = shared  # web/shared_cache.SharedAnswers, or None
        # key: the answer being made for it now (one render per key; the others wait for it)
        self.in_flight: dict[tuple[Any, ...], asyncio.Future[None]] = {}
        self.session_cookie = f"{_session_cookie(settings)}=".encode()
        self.vote_lag = settings.cache_vote_lag_seconds
        # Keys whose refresh is under way (waiting its turn or rendering): served past the lag,
        # up to DAILYPAPERS_CACHE_SECONDS after the change was seen.
        self.refreshing: set[tuple[Any, ...]] = set()
        self.stale_while_refreshing = max(self.vote_lag, settings.cache_seconds)
        self.refresh_concurrency = settings.cache_refresh_concurrency
        # the refreshes running (held here: the loop keeps tasks weakly)
        self.refreshes: set[asyncio.Task[None]] = set() if refreshes is None else refreshes
        # Each answer handled below counts once: uncached, rendered (in _make), or from the
        # store (hit, stale, shared); each refresh once more, as refreshed.
        self.meters = metrics.CacheMeters()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if (scope["type"] != "http" or scope["method"] not in ("GET", "HEAD")
                or path.startswith("/static/") or path in UNCACHED_PROBES):
            await self.app(scope, receive, send)
            return
        api = path.startswith("/api/")
        vary = b"Cookie, Authorization" if api else b"Cookie"
        headers = Headers(scope=scope)
        if (self.session_cookie in headers.get("cookie", "").encode("latin-1")
                or "authorization" in headers or path.startswith(PRIVATE_PREFIXES)):
            self.meters.count("uncached")
            await self.app(scope, receive, private(send, vary))
            return
        if self.store.max_bytes <= 0 or scope["method"] != "GET":
            self.meters.count("uncached")
            await self.app(scope, receive, _Capture(self, scope, None, 0, vary, headers, send))
            return
        rendering = False  # _make counted this request as rendered
        try:
            vote_mark = self.versions.vote_mark()  # before the read: see vote_mark
            data, votes = await self.versions.read()
            self.store.saw_version(data)
            scope.setdefault("state", {})[DATA_VERSION_STATE] = data  # web/fragments.py
            key = (data, path, scope.get("query_string", b""), tuple(scope.get("server") or ()))
            entry, source = await self._kept(key, votes), HIT
            if entry is not None and entry.stale_since is not None:
                source = STALE
                # Made anew at most every vote_lag / 2 (while votes keep coming, a busy list
                # would be rendered back to back), and the render has the other half.
                if (key not in self.in_flight
                        and time.monotonic() - entry.stored_at >= self.vote_lag / 2):
                    self._refresh(scope, key, votes, vary, headers, vote_mark)
            # A refresh still waiting its turn is no answer to wait for: past its bound, the
            # request renders (and the refresh, its turn come, finds it made).
            flight = (self.in_flight.get(key)
                      if entry is None and key not in self.refreshing else None)
            if flight is not None:  # the same answer is being made here: wait for it
                await asyncio.shield(flight)
                entry = await self._kept(key, votes)
            elif entry is None:  # this request makes it: the same key's others wait
                flight = self.in_flight[key] = asyncio.get_running_loop().create_future()
                try:
                    if self.shared is not None:  # another web process may have made it
                        entry, source = await self.shared.adopt(self, key, votes), SHARED
                except BaseException:
                    self._land(key, flight)
                    raise
                if entry is None:
                    rendering = True
                    await self._make(scope, receive, send, key, votes, vary, headers,
                                     vote_mark, flight)
                    return
                self._land(key, flight)
        except DATABASE_AWAY:
            # No version, no key: the route answers uncached (its own 503 when it needs the
            # database too), never a 500 from here.
            if not rendering:
                self.meters.count("uncached")
            await self.app(scope, receive, _Capture(self, scope, None, 0, vary, headers, send))
            return
        if entry is not None:
            self.store.hits += 1
            self.meters.count(OUTCOME[source])
            if entry.route is not None:  # for /metrics and the access line (observability.py)
                scope["route"] = entry.route
            await answer([*entry.headers, source], entry.body, entry.etag, headers, send)
            return
        # What was in flight could not be kept (personal, an error, cut short): make our own.
        await self._make(scope, receive, send, key, votes, vary, headers, vote_mark, None)

    async def _kept(self, key: tuple[Any, ...], votes: int) -> Entry | None:
        entry = self.store.get(key)
        return entry if entry is not None and await self._still_good(key, entry, votes) else None

    async def _make(self, scope: Scope, receive: Receive, send: Send, key: tuple[Any, ...],
                    votes: int, vary: bytes, headers: Headers, vote_mark: Any,
                    flight: asyncio.Future[None] | None, outcome: str = "rendered") -> None:
        """Render the answer (and keep it, when it may be kept): for a request (``rendered``)
        or for a refresh (``refreshed``, counted by _refresh)."""
        self.store.misses += 1
        if outcome == "rendered":
            self.meters.count(outcome)
        started = perf_counter()
        notebook, token = data_version.open_notebook()  # the route's threads see it too
        try:
            await self.app(scope, receive, _Capture(self, scope, key, votes, vary, headers, send,
                                                    notebook, vote_mark, flight))
        finally:
            data_version.close_notebook(token)
            if flight is not None:
                self._land(key, flight)
            self.meters.rendered(outcome, perf_counter() - started)

    def _refresh(self, scope: Scope, key: tuple[Any, ...], votes: int, vary: bytes,
                 headers: Headers, vote_mark: Any) -> None:
        """Make ``key``'s answer anew in the background, as a request without a client would
        (another process's, when it is good now; else rendered, waiting for a render slot like
        any other), while those asking meanwhile get the stale one."""
        self.meters.count("refreshed")  # whether it renders, adopts or fails
        flight = self.in_flight[key] = asyncio.get_running_loop().create_future()
        state = {k: v for k, v in scope.get("state", {}).items() if k != _PERSONAL}
        quiet = {b"if-none-match", b"if-modified-since"}  # its answer goes to no client
        alone = {**scope, "state": state,
                 "headers": [(n, v) for n, v in scope["headers"] if n not in quiet]}

        async def no_body() -> Message:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def nowhere(message: Message) -> None:
            return None

        async def refresh() -> None:
            stale = self.store.get(key)
            try:
                entry = None
                if self.shared is not None:
                    entry = await self.shared.adopt(self, key, votes)
                if entry is None:
                    # Refreshes take turns: all at once (bench/load.py: ~100/s) they took the
                    # interpreter from readers' renders and hits. Votes meanwhile share one.
                    async with per_loop_semaphore(self, "refresh_turns",
                                                  self.refresh_concurrency):
                        if self.store.get(key) is not stale:
                            return  # a request rendered it meanwhile (past the bound)
                        await self._make(alone, no_body, nowhere, key, votes, vary,
                                         Headers(scope=alone), vote_mark, flight, "refreshed")
            except Exception as exc:  # the route's own error: the next request meets it
                log.warning("refreshing %s failed: %s", scope.get("path"), type(exc).__name__)
            finally:
                self.refreshing.discard(key)
                if stale is not None and stale.stale_since is not None:
                    self.meters.served_stale(time.monotonic() - stale.stale_since)
                self._land(key, flight)
                if stale is not None and self.store.get(key) is stale:
                    self.store.discard(key)  # not made anew: the next request renders itself

        self.refreshing.add(key)
        task = asyncio.get_running_loop().create_task(refresh())
        self.refreshes.add(task)
        task.add_done_callback(self.refreshes.discard)

    def _land(self, key: tuple[Any, ...], flight: asyncio.Future[None]) -> None:
        """The answer in flight is kept (or will not be): wake those waiting for it."""
        if self.in_flight.get(key) is flight:
            del self.in_flight[key]
        if not flight.done():
            flight.set_result(None)

    async def _still_good(self, key: tuple[Any, ...], entry: Entry, votes: int) -> bool:
        """Whether ``entry`` may answer now: current, or changed by votes only, for at most
        ``vote_lag`` seconds after that was first seen (then ``stale_since`` is set)."""
        if entry.indexes:
            now = self.index_tokens()
            if any(now.get(part) != token for part, token in entry.indexes.items()):
                self.store.discard(key)
                return False
        if entry.stale_since is not None:  # a changed answer stays changed: no need to look
            return self._stale_but_served(key, entry)
        if entry.votes is not None:
            good = entry.votes == votes
        elif not entry.stamps:
            good = True
        else:
            # The log, when it can tell, needs neither a query nor the version (which may have
            # been read before the log heard of a vote it counts): asked on every hit.
            changed = self.versions.votes_changed(entry.stamps, entry.vote_mark)
            if changed is not None:
                good = not changed
            elif entry.checked_at_votes == votes:
                good = True
            else:
                ids = list(entry.stamps)
                good = await run_in_threadpool(self.versions.stamps, ids) == entry.stamps
                if good:
                    entry.checked_at_votes = max(entry.checked_at_votes, votes)
        if good:
            return True
        entry.stale_since = time.monotonic()
        return self._stale_but_served(key, entry)

    def _stale_but_served(self, key: tuple[Any, ...], entry: Entry) -> bool:
        if self.vote_lag > 0:
            stale_for = time.monotonic() - entry.stale_since  # type: ignore[operator]
            if stale_for <= self.vote_lag or (key in self.refreshing
                                              and stale_for <= self.stale_while_refreshing):
                return True
        self.store.discard(key)
        return False


class _Capture:
    """Holds an answer until it is complete, to give it an ETag (and keep it, when it may)."""

    def __init__(self, cache: ResponseCache, scope: Scope, key: tuple[Any, ...] | None,
                 votes: int, vary: bytes, request_headers: Headers, send: Send,
                 notebook: dict[str, Any] | None = None,
                 vote_mark: tuple[int, int] | None = None,
                 flight: asyncio.Future[None] | None = None) -> None:
        self.cache, self.scope, self.key, self.votes, self.vary = cache, scope, key, votes, vary
        self.vote_mark, self.flight = vote_mark, flight
        self.request_headers, self.send = request_headers, send
        self.notebook = notebook if notebook is not None else {}
        self.start: Message | None = None
        self.chunks: list[bytes] = []
        self.size = 0
        self.passing = False  # streaming through, unchanged but for the private headers

    async def __call__(self, message: Message) -> None:
        if self.passing:
            await self.send(message)
            return
        if message["type"] == "http.response.start":
            self.start = message
            headers = MutableHeaders(scope=message)
            personal = (self.scope.get("state", {}).get(_PERSONAL)
                        or "set-cookie" in headers
                        or any(p in headers.get("cache-control", "") for p in ("private", "no-store")))
            if personal:
                make_private(headers, self.vary)
            if personal or message["status"] != 200:
                await self._pass_through()
            return
        if message["type"] != "http.response.body":
            if self.start is None:  # http.response.debug (the test client's): before the answer
                await self.send(message)
            else:  # pathsend and the like: not ours to hold
                await self._pass_through(message)
            return
        body = message.get("body", b"")
        self.size += len(body)
        self.chunks.append(body)
        if self.size > MAX_ENTRY_BYTES:
            await self._pass_through(more_body=message.get("more_body", False))
            return
        if message.get("more_body", False):
            return
        await self._finish(b"".join(self.chunks))

    async def _pass_through(self, message: Message | None = None, more_body: bool = False) -> None:
        self.passing = True
        assert self.start is not None
        await self.send(self.start)
        if self.chunks:
            await self.send({"type": "http.response.body", "body": b"".join(self.chunks),
                             "more_body": more_body})
            self.chunks = []
        if message is not None:
            await self.send(message)

    async def _finish(self, body: bytes) -> None:
        assert self.start is not None
        headers = MutableHeaders(scope=self.start)
        etag = headers.get("etag", "").encode("latin-1") or (
            b'"' + hashlib.blake2b(body, digest_size=16).hexdigest().encode() + b'"')
        headers["ETag"] = etag.decode("latin-1")
        headers.setdefault("Cache-Control", PUBLIC)
        add_vary(headers, self.vary)
        raw = [(n, v) for n, v in self.start["headers"] if n != b"content-length"]
        notes = dict(self.notebook)
        indexes = notes.pop(data_version.INDEXES, None)
        clock = notes.pop(data_version.CLOCK, False)  # the rest are paper ids (and * or !)
        entry = None
        if self.key is not None and data_version.INCOMPLETE not in notes:
            by_rows = (data_version.ALL_VOTES not in notes
                       and VOTES_OF_ROWS_READ.fullmatch(self.scope["path"]) is not None)
            entry = Entry(
                time.monotonic(), raw, body, etag, votes=None if by_rows else self.votes,
                stamps=dict(notes) if by_rows else {}, checked_at_votes=self.votes,
                route=self.scope.get("route"), vote_mark=self.vote_mark, indexes=indexes,
                unannounced=clock or bool(
                    indexes and UNANNOUNCED_INDEXES.intersection(indexes)))
            self.cache.store.put(self.key, entry)
        if self.flight is not None:  # kept: those waiting for it answer from the store now
            self.cache._land(self.key, self.flight)  # type: ignore[arg-type]
        # MISS: this answer was looked for here, and rendered
        await answer([*raw, MISS] if self.key is not None else raw, body, etag,
                      self.request_headers, self.send)
        if entry is not None and self.cache.shared is not None:  # after the answer left
            await self.cache.shared.offer(self.cache, self.key, entry)


def _session_cookie(settings: Settings) -> str:
    from dailypapers.web.deps import session_cookie_name

    return session_cookie_name(settings)


def install(app: FastAPI, settings: Settings, engine: Engine, search: Any) -> None:
    """Add the middleware (call before ``HeadAsGet``, which must stay outside it)."""
    store = app.state.response_cache = ResponseStore(settings.cache_bytes, settings.cache_seconds)
    listener = None
    if engine.dialect.name == "postgresql" and settings.cache_bytes > 0:
        from dailypapers.db.version_listener import VersionListener

        listener = VersionListener(engine)
        app.state.jobs.append(listener)  # started and stopped with the app
    versions = app.state.data_versions = VersionReader(engine, listener)
    shared = None
    if settings.cache_shared_url and settings.cache_bytes > 0:
        from dailypapers.web.shared_cache import SharedAnswers

        shared = SharedAnswers(settings.cache_shared_url, settings.queue_prefix,
                               search.shared_index_tokens)
    app.state.shared_answers = shared
    app.state.cache_refreshes = set()
    app.add_middleware(ResponseCache, settings=settings, store=store, versions=versions,
                       index_tokens=search.index_tokens, shared=shared,
                       refreshes=app.state.cache_refreshes)
