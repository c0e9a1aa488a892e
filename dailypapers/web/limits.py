"""Bounded concurrency for expensive endpoints, per serving process.

Routes are plain ``def`` functions: Starlette runs them in its thread pool (40 threads), next to
every other page. Without a bound, a burst of costly searches takes every thread and each runs
slower for sharing two cores, so ``/papers`` waits behind them. ``LimitedRoute`` lets at most
``DAILYPAPERS_SEARCH_CONCURRENCY`` of them run at once; the others wait *on the event loop* (no
thread held) for up to ``DAILYPAPERS_SEARCH_QUEUE_SECONDS``, then get a 503 with ``Retry-After``.

The bound is this process's, like its CPU: nothing is shared between processes.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import threading
from collections.abc import Awaitable, Callable

from fastapi import Request, Response

from dailypapers.web.deps import api_error, is_api, render
from dailypapers.web.request_reads import AppRoute

RETRY_AFTER_SECONDS = 2
BUSY_MESSAGE = "too many searches are running; try again in a few seconds"


class ConcurrencyLimiter:
    """A first-come-first-served semaphore usable from any event loop (tests run several).

    A slot freed while requests wait is handed to the oldest waiter directly, so a newcomer
    cannot overtake the line."""

    def __init__(self, limit: int, wait_seconds: float) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.limit = limit
        self.wait_seconds = wait_seconds
        self.active = 0
        self.refused = 0
        self._lock = threading.Lock()
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()

    async def acquire(self) -> bool:
        """Take a slot, waiting at most ``wait_seconds``; False when none came free."""
        with self._lock:
            if self.active < self.limit and not self._waiters:
                self.active += 1
                return True
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
        try:
            await asyncio.wait_for(asyncio.shield(waiter), self.wait_seconds)
            return True
        except (TimeoutError, asyncio.CancelledError) as exc:
            with self._lock:
                queued = waiter in self._waiters
                if queued:
                    self._waiters.remove(waiter)
                else:
                    self.active -= 1  # handed a slot as we gave up: give it back below
            if not queued:
                self._hand_over()
            if isinstance(exc, asyncio.CancelledError):
                raise
            with self._lock:
                self.refused += 1
            return False

    def release(self) -> None:
        with self._lock:
            self.active -= 1
        self._hand_over()

    def _hand_over(self) -> None:
        """Give free slots to the oldest waiters whose event loop still runs."""
        with self._lock:
            while self._waiters and self.active < self.limit:
                waiter = self._waiters.popleft()
                try:
                    waiter.get_loop().call_soon_threadsafe(_wake, waiter)
                except RuntimeError:  # its loop is closed: nobody is waiting there any more
                    continue
                self.active += 1


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


_create_lock = threading.Lock()


def limiter_for(request: Request) -> ConcurrencyLimiter:
    """The app's search limiter, made from its settings on first use."""
    state = request.app.state
    limiter = getattr(state, "search_limiter", None)
    if limiter is None:
        with _create_lock:
            limiter = getattr(state, "search_limiter", None)
            if limiter is None:
                settings = state.settings
                limiter = ConcurrencyLimiter(settings.search_concurrency,
                                             settings.search_queue_seconds)
                state.search_limiter = limiter
    return limiter


def busy_response(request: Request, message: str = BUSY_MESSAGE) -> Response:
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
    if is_api(request):
        response: Response = api_error(503, message)
    else:
        response = render(request, "error.html", 503, title="Busy", message=message.capitalize())
    response.headers.update(headers)
    return response


class LimitedRoute(AppRoute):
    """A route whose handler runs only with a slot of the app's search limiter.

    A render takes its render slot first (web/request_reads.py), then the search slot: a search
    waiting in the line of every render would hold its search slot meanwhile, so with as many
    search slots as render slots (deploy/env.example) searches got 503s after
    DAILYPAPERS_SEARCH_QUEUE_SECONDS under load while the render slots were what they waited
    for. Now that bound counts only the wait for a search slot."""

    def get_route_handler(self) -> Callable[[Request], Awaitable[Response]]:
        handler = super().get_route_handler()
        if getattr(self, "renders", False):
            return handler  # the render slot's holder calls run_in_slot
        return functools.partial(self.run_in_slot, handler=handler)  # type: ignore[arg-type]

    async def run_in_slot(self, request: Request,  # type: ignore[override]
                          handler: Callable[[Request], Awaitable[Response]]) -> Response:
        limiter = limiter_for(request)
        if not await limiter.acquire():
            return busy_response(request)
        try:
            return await handler(request)
        finally:
            limiter.release()
