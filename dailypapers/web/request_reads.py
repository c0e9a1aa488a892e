"""A request's read transaction, opened where it is first used and ended in that same thread
when the route returns: one hand-off to the threadpool per rendered answer instead of three.

A sync ``yield`` dependency runs its start in one threadpool thread, the route in a second and
its end in a third. Each hand-off wakes a thread, which waits for the interpreter lock, then
wakes the event loop again; under bench/load.py's 64 clients the loop thread spent ~13 % of the
lock's held time handing work to threads (py-spy --gil), and while a hand-off is under way
nothing else in the process runs. So ``ConnDep`` is now an async dependency that touches no
database (:class:`LazyRead`: nothing is checked out until the route's thread asks), and every
route is an :class:`AppRoute`, whose sync routes end their reads in their own thread as they
return. A read still open after that (an async route, a template rendered later) is ended by the
dependency, in a thread, as before.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import threading
import weakref
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi.routing import APIRoute
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection, Engine, RootTransaction
from starlette.requests import Request
from starlette.responses import Response

log = logging.getLogger("dailypapers.web")


class LazyRead:
    """Stands for a ``Connection`` in a read transaction: the first attribute asked of it
    checks a connection out of the pool and begins (in the asking thread, never on the event
    loop: routes and templates that read run in the threadpool). Used by one thread at a time."""

    __slots__ = ("_engine", "_conn", "_transaction", "ended")

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._conn: Connection | None = None
        self._transaction: RootTransaction | None = None
        self.ended = False

    @property
    def opened(self) -> bool:
        """Whether a connection is checked out now (to be ended)."""
        return self._conn is not None

    def _open(self) -> Connection:
        conn = self._conn
        if conn is None:
            if self.ended:  # a reader that outlived its route: it must not hold a connection
                raise RuntimeError("the request's read transaction has ended")
            conn = self._engine.connect()
            try:
                self._transaction = conn.begin()
            except BaseException:
                conn.close()
                raise
            self._conn = conn
        return conn

    def __getattr__(self, name: str) -> Any:
        return getattr(self._open(), name)

    def end(self, failed: bool = False) -> None:
        """Commit (a read has nothing to commit: it only ends the snapshot), or roll back when
        the route failed; the connection goes back to the pool. Should the database have gone
        away meanwhile, the end is only logged: raised, it would turn an answer that is ready
        into an error (and after the answer, uvicorn would close the client's connection)."""
        self.ended = True
        conn, transaction = self._conn, self._transaction
        if conn is None:
            return
        self._conn = self._transaction = None
        try:
            if transaction is not None and transaction.is_active:
                if failed:
                    transaction.rollback()
                else:
                    transaction.commit()
        except (sa_exc.OperationalError, sa_exc.InterfaceError) as exc:
            log.info("read transaction ended by the database after the answer: %s",
                     str(exc.orig or exc).splitlines()[0])
        finally:
            conn.close()


def end_reads(values: dict[str, Any], failed: bool) -> None:
    for value in values.values():
        if isinstance(value, LazyRead):
            value.end(failed)


def _ending_reads(call: Callable[..., Any]) -> Callable[..., Any]:
    """``call`` (a sync route), ending the request's reads in its own thread as it returns."""
    @functools.wraps(call)
    def route_then_end_reads(**values: Any) -> Any:
        try:
            result = call(**values)
        except BaseException:
            end_reads(values, failed=True)
            raise
        end_reads(values, failed=False)
        return result
    route_then_end_reads.ends_reads = True  # type: ignore[attr-defined]
    return route_then_end_reads


class AppRoute(APIRoute):
    """Every route of the app (the routers' ``route_class``). A sync route (a render) ends the
    request's read transaction before its thread goes back to the pool (see the module's
    docstring; only the route's own ``ConnDep`` parameters are ended there, a reader asked for
    by another dependency only is ended by that dependency), and waits on the event loop for one
    of DAILYPAPERS_RENDER_CONCURRENCY slots (:func:`render_slot`)."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        # The endpoint itself is wrapped (FastAPI reads its signature and globals through
        # ``__wrapped__``): the app's included routers build their handlers from it.
        self.renders = getattr(endpoint, "ends_reads", False) or not inspect.iscoroutinefunction(
            inspect.unwrap(endpoint))
        if self.renders and not getattr(endpoint, "ends_reads", False):
            endpoint = _ending_reads(endpoint)
        super().__init__(path, endpoint, **kwargs)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        if not getattr(self, "renders", False):
            return handler

        async def in_turn(request: Request) -> Response:
            slot = render_slot(request)
            if slot.locked():  # wait for a turn, as long as for a pooled connection at most
                try:
                    await asyncio.wait_for(
                        slot.acquire(), request.app.state.settings.db_pool_timeout_seconds)
                except TimeoutError:  # never a hang: a 503 with Retry-After
                    from dailypapers.web.limits import busy_response

                    return busy_response(request, RENDERS_BUSY)
            else:
                await slot.acquire()
            try:
                return await self.run_in_slot(request, handler)
            finally:
                slot.release()

        return in_turn

    async def run_in_slot(self, request: Request,
                          handler: Callable[[Request], Coroutine[Any, Any, Response]]) -> Response:
        """The render, once it has its slot (web/limits.py's ``LimitedRoute`` adds its bound)."""
        return await handler(request)


_per_loop_lock = threading.Lock()
RENDERS_BUSY = "the server is busy; try again in a few seconds"


def per_loop_semaphore(owner: Any, name: str, capacity: int) -> asyncio.Semaphore:
    """``owner``'s semaphore ``name`` for the running event loop, of ``capacity`` when first
    made: asyncio primitives belong to one loop, and tests run several (one per TestClient)."""
    loop = asyncio.get_running_loop()
    with _per_loop_lock:
        by_loop = getattr(owner, name, None)
        if by_loop is None:
            by_loop = weakref.WeakKeyDictionary()
            setattr(owner, name, by_loop)
        semaphore = by_loop.get(loop)
        if semaphore is None:
            semaphore = by_loop[loop] = asyncio.Semaphore(capacity)
    return semaphore


def render_slot(request: Request) -> asyncio.Semaphore:
    """One of the web process's DAILYPAPERS_RENDER_CONCURRENCY render slots (``async with``).

    Every render thread takes turns on the interpreter lock with the event loop, which answers
    the cached pages and static files meanwhile: with anyio's 40 threads rendering at once the
    loop got a small share of it, and a cached page waited behind renders. A render waiting for
    a slot waits on the loop and holds no thread. bench/load.py, alternating runs on 2 cores:
    ~20 % more requests/s with 1 to 4 renders at once per web process than with 40; with
    deploy/env.example's vote lag, 8 gave half the p99 of 4 for ~4 % fewer requests/s.
    A render waits for a slot as long as for a pooled connection
    (DAILYPAPERS_DB_POOL_TIMEOUT_SECONDS), then answers 503 with Retry-After: during a database
    outage each render holds its slot up to the connect timeout, and those behind it must not
    wait without bound."""
    state = request.app.state
    return per_loop_semaphore(state, "render_slots", state.settings.render_concurrency)
