"""Request ids, the access log line and request metrics (one ASGI middleware), and ``/metrics``.

The middleware is the outermost layer: it sees every answer, the security middleware's 400s and
Starlette's 500s included. Per request it
- keeps a sane incoming ``X-Request-ID`` (logs.sane_request_id) or makes one, returns it in the
  answer's header, and sets it in ``logs.REQUEST_ID`` so every log line of the request has it;
- writes one access line (``dailypapers.access``: method, redacted path, route template, status,
  milliseconds, client address) instead of uvicorn's;
- observes the latency histogram by route template and counts the answer by status class.

Labels stay bounded: the route is the template (``/papers/{id:path}``, never the paper id; a
path no route matches is ``<unmatched>``) and the method one of a fixed list.

``/metrics`` answers only clients whose address is in DAILYPAPERS_METRICS_ALLOW (loopback by
default; an empty list turns it off) and never a request that came through a proxy (it carries
``Forwarded`` or ``X-Forwarded-For``): the numbers describe the site's traffic, subscribers and
mail volume, and a scrape runs several counting queries, so the open internet must not reach
it. Everyone else gets the same 404 as any unknown path.
"""

from __future__ import annotations

import ipaddress
import logging
import time
import uuid
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dailypapers import logs, metrics

access_log = logging.getLogger("dailypapers.access")
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "<unmatched>"
REQUEST_ID_HEADER = b"x-request-id"


class RequestObserver:
    """The middleware described in the module docstring."""

    def __init__(self, app: ASGIApp, *, measure: bool = True) -> None:
        self.app = app
        self.meters = metrics.instruments() if measure else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        incoming = next((value.decode("latin-1") for name, value in scope["headers"]
                         if name == REQUEST_ID_HEADER), None)
        request_id = logs.sane_request_id(incoming) or uuid.uuid4().hex
        token = logs.REQUEST_ID.set(request_id)
        status = 500  # unless an answer starts

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [(n, v) for n, v in message.get("headers", [])
                           if n.lower() != REQUEST_ID_HEADER]
                headers.append((REQUEST_ID_HEADER, request_id.encode("latin-1")))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            route = self._route(scope)
            self._record(scope, route, status, seconds)
            logs.REQUEST_ID.reset(token)

    def _record(self, scope: Scope, route: str, status: int, seconds: float) -> None:
        method = scope["method"] if scope["method"] in METHODS else "OTHER"
        if self.meters is not None:
            try:
                self.meters.request_seconds.labels(method=method, route=route).observe(seconds)
                self.meters.requests.labels(route=route, status=f"{status // 100}xx").inc()
            except OSError:  # the metrics folder went away under us: serve on, say so once
                self.meters = None
                access_log.warning("metrics folder unusable; request metrics stop here",
                                   exc_info=True)
        path = scope.get("path", "")
        query = scope.get("query_string", b"").decode("latin-1")
        shown = logs.redact(f"{path}?{query}" if query else path)
        client = scope.get("client")
        access_log.info(
            "%s %s %d %.1f ms", method, shown, status, seconds * 1000,
            extra={"method": method, "route": route, "path": shown, "status": status,
                   "duration_ms": round(seconds * 1000, 2),
                   "client": client[0] if client else None, "redacted": True})

    @staticmethod
    def _route(scope: Scope) -> str:
        """The template of the route that answered, which the router writes into ``scope``
        (HeadAsGet copies it back from the GET it makes of a HEAD)."""
        route = scope.get("route")
        return getattr(route, "path", None) or UNMATCHED


# --- /metrics --------------------------------------------------------------------------------


def allowed_networks(entries: Sequence[str]) -> tuple[Any, ...]:
    return tuple(ipaddress.ip_network(entry.strip(), strict=False) for entry in entries)


def client_allowed(request: Request, networks: tuple[Any, ...]) -> bool:
    if not networks or request.client is None:
        return False
    if "forwarded" in request.headers or "x-forwarded-for" in request.headers:
        return False  # it came through a proxy: the proxy's address says nothing of the client
    try:
        address = ipaddress.ip_address(request.client.host)
    except ValueError:
        return False
    return any(address in network for network in networks)


def install(app: FastAPI) -> None:
    """Route ``/metrics`` and wrap the app in :class:`RequestObserver` (outermost)."""
    settings = app.state.settings
    engine = app.state.engine
    metrics.use_multiprocess_dir(settings)
    metrics.instrument_pool(engine)
    networks = allowed_networks(settings.metrics_allow)

    @app.get("/metrics", include_in_schema=False)
    def prometheus_metrics(request: Request) -> Response:
        if not client_allowed(request, networks):
            raise StarletteHTTPException(404, "Not Found")
        body, content_type = metrics.render(engine, settings)
        return PlainTextResponse(body, media_type=content_type,
                                 headers={"Cache-Control": "no-store"})

    build = app.build_middleware_stack
    app.build_middleware_stack = lambda: RequestObserver(build())  # type: ignore[method-assign]
