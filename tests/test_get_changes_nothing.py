"""No GET changes a row: every GET route of the app, walked over real HTTP while signed in (by
session cookie, and by API token on /api/), leaves every table exactly as it was.

New routes are walked automatically; a new path parameter needs a sample value in SAMPLES."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import lxml.html
import sqlalchemy as sa
from fastapi.routing import _IncludedRouter
from starlette.routing import Route

from dailypapers.community import moderation, resets
from dailypapers.community.comments import CommentRules, add_comment
from dailypapers.community.users import User
from dailypapers.db.engine import write_transaction
from dailypapers.db.schema import metadata, users
from dailypapers.ingest.files import import_paths
from dailypapers.notify import subscriptions, tokens
from dailypapers.rank.trending import TrendingParams
from tests.account_helpers import Browser, serve
from tests.conftest import TEST_SECRET_KEY
from tests.helpers import hf_item, write_json

PAPER = "2603.00001"
SAMPLES = {"paper_id": PAPER, "day": "2026-03-02", "week": "2026-W10", "month": "2026-03",
           "collection_id": "1", "username": "Walker", "category": "cs.CL",
           "name": "0" * 64 + ".png"}  # /media/{name}: an image no sync fetched (404)


def link(purpose: str, subscription_id: int) -> str:
    path = {"confirm": "/subscribe/confirm/", "unsubscribe": "/unsubscribe/",
            "manage": "/subscription/"}[purpose]
    return path + tokens.make_token(TEST_SECRET_KEY.encode(), purpose, subscription_id)


def get_routes(router: Any) -> Iterator[Route]:
    for route in router.routes:
        if isinstance(route, _IncludedRouter):
            yield from get_routes(route.original_router)
        elif isinstance(route, Route) and "GET" in (route.methods or ()):
            yield route


def snapshot(engine: sa.Engine) -> dict[str, list[str]]:
    with engine.connect() as conn:
        return {table.name: sorted(repr(tuple(row)) for row in conn.execute(sa.select(table)))
                for table in metadata.sorted_tables}


def fill(path: str, samples: dict[str, str]) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1).split(":")[0]
        assert name in samples, f"no sample value for {{{name}}} in {path}: add one to SAMPLES"
        return samples[name]

    return re.sub(r"\{([^}]+)\}", value, path)


def test_no_get_route_changes_a_row(settings, engine, tmp_path: Path) -> None:
    import_paths(engine, [write_json(tmp_path / "day.json", [hf_item(PAPER, day="2026-03-02")])])
    with serve(settings, engine) as server:
        browser = Browser(server.url)
        assert browser.sign_up("Walker", email="walker@example.org").status_code == 303
        created = browser.submit("/account", "/account/tokens", {"token_name": "walk"})
        api_token = lxml.html.fromstring(created.text).xpath("string(//code[@class='new-token'])")
        # A collection (id 1) holding the paper, so its page and the API's answer are walked.
        assert browser.submit(f"/papers/{PAPER}", f"/papers/{PAPER}/collect",
                              {"new_name": "Walk", "action": "add"}).status_code == 303
        with write_transaction(engine) as conn:
            reset = resets.request_reset(conn, "walker")
            # A thread on the paper, so its page and the comments API have rows to show.
            walker = conn.execute(sa.select(users.c.id)).scalar_one()
            top = add_comment(conn, walker, PAPER, "A *comment*", None, CommentRules(),
                              TrendingParams())
            add_comment(conn, walker, PAPER, "A reply", top, CommentRules(), TrendingParams())
            # A moderator, so the moderation pages show their all: a flag in the queue, a
            # log entry.
            conn.execute(users.update().values(is_moderator=True))
            walker_user = User.from_row(conn.execute(sa.select(users)).one())
            moderation.flag(conn, walker_user, "paper", PAPER, "spam", "a flag to show")
            moderation.hide_paper(conn, walker_user, PAPER, "hidden, then shown again")
            moderation.unhide_paper(conn, walker_user, PAPER, "a log entry to show")
            moderation.flag(conn, walker_user, "paper", PAPER, "spam", "an open flag")
            email, key = subscriptions.normalise_address("walker@example.org")
            pending = subscriptions.request_subscription(conn, email, key,
                                                         subscriptions.Preferences(), None)
        samples = {**SAMPLES, "token": reset.token}
        # Subscription links take signed tokens of their own: walked again with good ones.
        signed = [link(purpose, pending.subscription_id)
                  for purpose in ("confirm", "unsubscribe", "manage")]

        routes = list(get_routes(server.app.router))
        paths = {route.path for route in routes}
        assert {"/papers", "/account", "/signup", "/login", "/reset", "/reset/{token}",
                "/api/v1/me", "/api/daily_papers", "/collections", "/collections/{collection_id}",
                "/api/v1/collections/{collection_id}", "/submit", "/users/{username}",
                "/moderation", "/moderation/queue", "/api/v1/moderation/flags", "/flag",
                "/subscribe", "/subscribe/confirm/{token}", "/unsubscribe/{token}",
                "/subscription/{token}", "/admin/mail", "/admin/jobs"} <= paths
        before = snapshot(engine)
        walked = 0
        statuses: dict[str, int] = {}
        for route in routes:
            url = fill(route.path, samples)
            if route.path.startswith("/api/"):
                headers = {"Authorization": f"Bearer {api_token}"}
            else:
                headers = {}
            for method in ("GET", "HEAD"):
                answer = browser.http.request(method, url, headers=headers)
                assert answer.status_code < 500, (method, url, answer.status_code)
                statuses[route.path] = answer.status_code
                walked += 1
        assert walked == 2 * len(routes)
        # Pages only a signed-in user sees answered as such (not a redirect to /login).
        for path in ("/account", "/submit", "/collections", "/api/v1/me",
                     "/api/v1/collections/{collection_id}"):
            assert statuses[path] == 200, (path, statuses[path])
        for url in signed:
            for method in ("GET", "HEAD"):
                assert browser.http.request(method, url).status_code == 200, (method, url)
        assert browser.get("/api/v1/me", headers={
            "Authorization": f"Bearer {api_token}"}).json()["username"] == "Walker"
        assert snapshot(engine) == before
        assert browser.signed_in_as() == "Walker"
