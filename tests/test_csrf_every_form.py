"""CSRF on every state-changing form route, walked over real HTTP on a live server (SQLite and
PostgreSQL): each non-API POST/PUT/PATCH/DELETE route of the app depends on ``check_csrf``, and a
request without the right token (none, empty, zeros, overlong, another session's, the signed-out
token of the same browser, a wrong X-CSRF-Token header) is a 403 that changes no row. Then the
same request with the page's own token is *not* refused and does change a row, so the 403s
above came from the token and nothing else. Every API write, sent with only a signed-in
browser's cookies (all a cross-site forgery could carry), is a 401 that changes no row.

New form routes are walked automatically with forged requests; give them fields in FORMS so the
positive half covers them too."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import lxml.html
import sqlalchemy as sa
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, _IncludedRouter

from dailypapers.community import resets
from dailypapers.db.engine import write_transaction
from dailypapers.db.schema import api_tokens, collections, comments, users
from dailypapers.ingest.files import import_paths
from dailypapers.web.deps import check_csrf
from tests.account_helpers import NEW_PASSWORD, PASSWORD, Browser, csrf, serve
from tests.conftest import SHARED_DATA, shared
from tests.fake_upstream import ATOM_PATH, FakeUpstream
from tests.helpers import hf_item, write_json
from tests.test_get_changes_nothing import snapshot

STORED = "2603.00001"  # imported, featured on DAY
SUBMITTED = "2502.06628"  # recorded in arxiv/api-atom; first version 2025-02-10
DAY = "2026-03-02"
NOW = dt.datetime(2025, 2, 20, 9, 30, tzinfo=dt.timezone.utc)
STATE_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}
SAMPLES = {"paper_id": STORED, "collection_id": "1", "token_id": "1", "token": "x",
           "comment_id": "2", "username": "Victim"}


def state_changing_routes(router: Any) -> Iterator[APIRoute]:
    for route in router.routes:
        if isinstance(route, _IncludedRouter):
            yield from state_changing_routes(route.original_router)
        elif isinstance(route, APIRoute) and STATE_CHANGING & set(route.methods):
            yield route


def form_routes(router: Any) -> Iterator[APIRoute]:
    return (r for r in state_changing_routes(router) if not r.path.startswith("/api/"))


def depends_on(dependant: Dependant, call: Callable[..., Any]) -> bool:
    return any(d.call is call or depends_on(d, call) for d in dependant.dependencies)


def fill(path: str, samples: dict[str, str]) -> str:
    return re.sub(r"\{([^}:]+)(:[^}]*)?\}", lambda m: samples.get(m.group(1), "1"), path)


# path -> (who sends it: "signed_in" or "signed_out", form fields). Order matters: the password
# change and sign-out end the victim's sessions; the signed-out forms come after them.
FORMS: dict[str, tuple[str, dict[str, str]]] = {
    "/account/email": ("signed_in", {"email": "victim2@example.org"}),
    "/account/tokens": ("signed_in", {"token_name": "walk"}),
    "/account/tokens/{token_id}/revoke": ("signed_in", {}),
    "/collections": ("signed_in", {"name": "Second", "public": "on"}),
    "/collections/{collection_id}/edit": ("signed_in", {"name": "Renamed", "public": "on"}),
    "/papers/{paper_id:path}/collect": ("signed_in", {"action": "add", "new_name": "Third"}),
    "/papers/{paper_id:path}/vote": ("signed_in", {"next": "/papers"}),
    "/submit": ("signed_in", {"arxiv_id": SUBMITTED, "comment": "worth a look"}),
    "/papers/{paper_id:path}/comments": ("signed_in", {"body": "First *comment*"}),
    "/comments/{comment_id}/edit": ("signed_in", {"body": "Edited"}),
    "/comments/{comment_id}/vote": ("signed_in", {}),
    "/comments/{comment_id}/delete": ("signed_in", {}),
    # The victim is a moderator, so these act; comment 1 is the attacker's.
    "/flag": ("signed_in", {"target_type": "paper", "target_id": STORED, "reason": "spam",
                            "detail": "walked"}),
    "/moderation/queue/resolve": ("signed_in", {"action": "dismiss", "target_type": "paper",
                                                "target_id": STORED, "reason": "fine"}),
    "/moderation/comments": ("signed_in", {"action": "hide", "comment_id": "1",
                                           "reason": "rude"}),
    "/moderation/threads": ("signed_in", {"action": "lock", "paper_id": STORED,
                                          "reason": "heated"}),
    "/moderation/users": ("signed_in", {"action": "suspend", "username": "Bystander",
                                        "reason": "spam"}),
    "/moderation/papers": ("signed_in", {"action": "hide", "paper_id": STORED,
                                         "reason": "spam"}),
    "/collections/{collection_id}/delete": ("signed_in", {}),
    "/account/password": ("signed_in", {"current_password": PASSWORD,
                                        "new_password": NEW_PASSWORD}),
    "/logout": ("signed_in", {}),
    "/signup": ("signed_out", {"username": "Newcomer", "password": PASSWORD}),
    "/login": ("signed_out", {"username": "Victim", "password": NEW_PASSWORD}),
    "/reset": ("signed_out", {"name_or_email": "victim2@example.org"}),
    "/reset/{token}": ("signed_out", {"new_password": "a brand new passphrase"}),
}


# Form routes that take no session CSRF token by design; their own tests prove what guards them.
NOT_SESSION_CSRF = {
    # RFC 8058 one-click unsubscribe: a mail client POSTs with no cookie; the signed link is
    # the credential (tests/test_subscriptions.py: forged and expired links refused).
    "/unsubscribe/{token}",
    # The manage page's form token is bound to the signed link and the browser's own cookie, not
    # to a session: subscribers need no account (tests/test_subscriptions.py).
    "/subscription/{token}",
}


def session_csrf(browser: Browser) -> str:
    return csrf(browser.get("/account").text, "/logout")


def test_every_form_route_refuses_a_missing_or_wrong_csrf_token(settings, engine,
                                                                 tmp_path: Path) -> None:
    shared("arxiv", "api-atom")
    import_paths(engine, [write_json(tmp_path / "day.json", [hf_item(STORED, day=DAY)])])
    with FakeUpstream(SHARED_DATA) as fake, serve(
            settings, engine, arxiv_api_url=fake.url + ATOM_PATH,
            sync_min_interval_seconds=0.0) as server:
        server.app.state.clock = lambda: NOW  # so the recorded paper is young enough to submit
        routes = list(form_routes(server.app.router))
        paths = {route.path for route in routes}
        assert set(FORMS) <= paths, set(FORMS) - paths  # the table names real routes
        unchecked = [r.path for r in routes if not depends_on(r.dependant, check_csrf)
                     and r.path not in NOT_SESSION_CSRF]
        assert unchecked == [], f"form routes without CsrfDep: {unchecked}"

        victim = Browser(server.url)
        victim.get("/signup")  # a signed-out CSRF cookie, kept after signing in
        signed_out_token = csrf(victim.get("/signup").text, "/signup")
        assert victim.sign_up("Victim", email="victim@example.org").status_code == 303
        attacker = Browser(server.url)
        assert attacker.sign_up("Attacker").status_code == 303
        assert Browser(server.url).sign_up("Bystander").status_code == 303
        with write_transaction(engine) as conn:
            conn.execute(users.update().where(users.c.username == "Victim")
                         .values(is_moderator=True))
        assert attacker.submit(f"/papers/{STORED}", f"/papers/{STORED}/comments",
                               {"body": "comment 1"}).status_code == 303
        other_stranger = Browser(server.url)
        foreign_anonymous = csrf(other_stranger.get("/login").text, "/login")

        # What the routes act on: an API token (id 1) and a collection (id 1) of the victim's.
        assert victim.submit("/account", "/account/tokens", {"token_name": "t"}).status_code == 200
        assert victim.submit(f"/papers/{STORED}", f"/papers/{STORED}/collect",
                             {"new_name": "First", "action": "add"}).status_code == 303
        with engine.connect() as conn:
            assert conn.execute(sa.select(api_tokens.c.id)).scalars().all() == [1]
            assert conn.execute(sa.select(collections.c.id)).scalars().all() == [1]
            assert conn.execute(sa.select(comments.c.id)).scalars().all() == [1]
        with write_transaction(engine) as conn:
            reset = resets.request_reset(conn, "victim")
        samples = {**SAMPLES, "token": reset.token}

        def forged(who: Browser, url: str, fields: dict[str, str],
                   bad_tokens: list[str | None]) -> None:
            before = snapshot(engine)
            for token in bad_tokens:
                data = dict(fields) if token is None else {**fields, "csrf_token": token}
                answer = who.post(url, data)
                assert answer.status_code == 403, (url, token, answer.status_code)
                assert snapshot(engine) == before, (url, token)
            # The header is read before the form: a wrong one is refused even with a right field.
            answer = who.post(url, fields, headers={"X-CSRF-Token": "0" * 64})
            assert answer.status_code == 403, (url, "header")
            assert snapshot(engine) == before, (url, "header")

        walked = []
        for route in routes:
            if route.path in FORMS or route.path in NOT_SESSION_CSRF:
                continue
            # A route this table does not know yet: signed in, forged requests only.
            url = fill(route.path, samples)
            mine = session_csrf(victim)
            for method in sorted(STATE_CHANGING & set(route.methods)):
                before = snapshot(engine)
                for token in (None, "", "0" * 64, session_csrf(attacker), signed_out_token):
                    data = {} if token is None else {"csrf_token": token}
                    answer = victim.http.request(method, url, data=data)
                    assert answer.status_code == 403, (method, url, token, answer.status_code)
                assert snapshot(engine) == before, (method, url)
            assert session_csrf(victim) == mine
            walked.append(route.path)

        stale_session_token = session_csrf(victim)
        for path, (who, fields) in FORMS.items():
            if path == "/reset/{token}":  # asked for now: the password change ended older ones
                with write_transaction(engine) as conn:
                    samples["token"] = resets.request_reset(conn, "victim").token
            url = fill(path, samples)
            if who == "signed_out":
                stranger = Browser(server.url)  # signed out, with a CSRF cookie of its own
                right = csrf(stranger.get("/login").text, "/login")
                bad = [None, "", "0" * 64, "f" * 129, foreign_anonymous, stale_session_token,
                       session_csrf(attacker)]
                sender = stranger
            else:
                right = session_csrf(victim)
                bad = [None, "", "0" * 64, "f" * 129, session_csrf(attacker), signed_out_token,
                       foreign_anonymous]
                sender = victim
            forged(sender, url, fields, bad)
            before = snapshot(engine)
            answer = sender.post(url, {**fields, "csrf_token": right})
            assert answer.status_code in (200, 303), (path, answer.status_code, answer.text[:300])
            assert snapshot(engine) != before, f"{path}: the right token changed nothing"
            if path == "/logout":
                assert victim.signed_in_as() is None
            walked.append(path)
        assert sorted(walked) == sorted(paths - NOT_SESSION_CSRF)

        # The API needs no CSRF token because it ignores cookies: a browser's session alone
        # (what a forged cross-site request carries) is a 401 on every API write.
        api_writes = [r for r in state_changing_routes(server.app.router)
                      if r.path.startswith("/api/")]
        assert len(api_writes) >= 4
        attacker_session = attacker.http.cookies.get("dp_session")
        assert attacker_session
        before = snapshot(engine)
        for route in api_writes:
            url = fill(route.path, samples)
            for method in sorted(STATE_CHANGING & set(route.methods)):
                answer = attacker.http.request(method, url, json={"body": "x", "name": "x",
                                                                  "id": SUBMITTED})
                assert answer.status_code == 401, (method, url, answer.status_code)
        assert snapshot(engine) == before
        doc = lxml.html.fromstring(attacker.get("/account").text)
        assert doc.xpath("string(//main//h1)") == "Attacker"  # nothing forged touched them
