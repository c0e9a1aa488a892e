"""Probes for a process manager or a load balancer.

- ``/healthz``: the process answers (it touches nothing: a database outage must not make a
  supervisor restart every web process, which would only add a cold start to the outage).
- ``/readyz``: this process can serve: the database answers, the task queue answers when
  ``DAILYPAPERS_QUEUE_URL`` names one, and the search indexes are loaded when this process keeps
  them (``serve``'s index thread; an app without one loads them at the first search). A 503
  names what is down, so a balancer sends traffic elsewhere until it is back; why it is down
  (the driver's words, which name hosts and ports) goes to the log, not to the public answer.
  Its ``vector_search`` says how this process answers by meaning meanwhile: "building" (a
  vector graph is due: the exact scan answers, slower on a large collection), "graph" or
  "exact" (too few vectors to need one).
Both answer JSON, never cached.
"""

from __future__ import annotations

import logging
from typing import Any

import redis
import sqlalchemy as sa
from fastapi import APIRouter, Request

from dailypapers.cli_errors import _first_line, safe_url
from dailypapers.web.json_response import JSONResponse
from dailypapers.web.request_reads import AppRoute

log = logging.getLogger("dailypapers.web")
router = APIRouter(include_in_schema=False, route_class=AppRoute)

PROBE_TIMEOUT_SECONDS = 2.0
NO_STORE = {"Cache-Control": "no-store"}


@router.get("/healthz")
async def healthz() -> JSONResponse:
    return JSONResponse({"status": "ok"}, headers=NO_STORE)


@router.get("/readyz")
def readyz(request: Request) -> JSONResponse:
    state = request.app.state
    checks: dict[str, str] = {"database": database_check(state.engine)}
    queue_url = getattr(state.settings, "queue_url", "") or ""
    if queue_url:
        checks["queue"] = queue_check(queue_url)
    worker = getattr(state, "index_worker", None)
    if worker is not None:
        checks["indexes"] = "ok" if state.search.loaded else "loading"
    down = sorted(name for name, result in checks.items() if result != "ok")
    body: dict[str, Any] = {"status": "unavailable" if down else "ok", "checks": checks}
    if worker is not None and state.search.loaded:  # for operators: ready all the same
        body["vector_search"] = state.search.vectors.graph_state
    if down:
        body["down"] = down
    return JSONResponse(body, status_code=503 if down else 200, headers=NO_STORE)


def database_check(engine: sa.Engine) -> str:
    """"ok" when the database answers a query (within the engine's connect timeout)."""
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1").scalar_one()
    except sa.exc.SQLAlchemyError as exc:
        log.warning("readyz: database %s: %s", safe_url(str(engine.url)), _first_line(exc))
        return "unreachable"
    return "ok"


def queue_check(url: str) -> str:
    """"ok" when the queue at ``url`` (redis://, rediss://, unix://) answers a PING."""
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=PROBE_TIMEOUT_SECONDS,
                                      socket_timeout=PROBE_TIMEOUT_SECONDS)
        try:
            client.ping()
        finally:
            client.close()
    except (redis.RedisError, OSError, ValueError) as exc:
        log.warning("readyz: queue %s: %s", safe_url(url), _first_line(exc))
        return "unreachable"
    return "ok"
