"""Writes under load and their limits: 64 concurrent writers through a live server all get an
answer (SQLite's one-writer lock no longer starves the threadpool), and votes are limited per
account and per address with a 429 and Retry-After, changing nothing."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
import sqlalchemy as sa

from dailypapers.db.schema import api_tokens
from dailypapers.web.app import create_app
from tests.conftest import LiveServer
from tests.test_votes import P1, P2, _all_at_once, _counts, _load, _no_drift, _session, _users


def _serve(settings, engine, **overrides):  # type: ignore[no-untyped-def]
    return LiveServer(create_app(settings.model_copy(update=overrides), engine))


GENEROUS = {"ratelimit_vote_per_ip": "100000/minute", "ratelimit_vote_per_user": "100000/minute"}


def test_64_concurrent_writers_all_get_answers_and_exact_counts(settings, engine) -> None:
    """64 API votes and 64 token creations (a WriteConnDep route) at once. Fails when writers
    waiting for the database each hold a threadpool thread: with more waiting than threads (40)
    the one holding SQLite's lock never gets a thread to finish, and everyone waits for the 30 s
    busy timeout, then fails."""
    _load(engine, {P1: (5, "08:00")})
    voters = _users(engine, 64, prefix="voter")
    writers = _users(engine, 64, prefix="writer")
    calls = [("POST", f"/api/v1/papers/{P1}/vote", {"headers": {"Authorization": f"Bearer {t}"}})
             for _uid, t in voters]
    for uid, _token in writers:
        cookie, csrf = _session(engine, uid)
        calls.append(("POST", "/account/tokens",
                      {"data": {"csrf_token": csrf, "token_name": "second"},
                       "headers": {"Cookie": f"dp_session={cookie}"}}))
    with _serve(settings, engine, **GENEROUS) as server:
        statuses = asyncio.run(_all_at_once(server.url, calls))
    assert statuses == [200] * 128
    assert _counts(engine, P1) == (5, 64, 64)
    with engine.connect() as conn:
        made = conn.execute(sa.select(sa.func.count()).select_from(api_tokens)
                            .where(api_tokens.c.name == "second")).scalar_one()
    assert made == 64
    _no_drift(engine)


def _vote(client, method: str, token: str, paper: str = P1):  # type: ignore[no-untyped-def]
    return client.request(method, f"/api/v1/papers/{paper}/vote",
                          headers={"Authorization": f"Bearer {token}"})


def test_api_votes_are_limited_per_account_then_per_address(settings, engine) -> None:
    from fastapi.testclient import TestClient

    _load(engine, {P1: (5, "08:00"), P2: (7, "09:00")})
    (_a, alice), (_b, bob), (_c, carol) = _users(engine, 3)
    app = create_app(settings.model_copy(update={"ratelimit_vote_per_user": "3/minute",
                                                 "ratelimit_vote_per_ip": "6/minute"}), engine)
    with TestClient(app) as client:
        assert [_vote(client, m, alice).status_code for m in ("POST", "DELETE", "POST")] == \
            [200, 200, 200]
        limited = _vote(client, "DELETE", alice)
        assert limited.status_code == 429
        assert 1 <= int(limited.headers["retry-after"]) <= 60
        assert "error" in limited.json()
        # Nothing changed: on PostgreSQL the delete was written before the user was known,
        # and rolled back.
        assert _counts(engine, P1) == (5, 1, 1)
        # Another account from the same address: two more (the refused one counted for the
        # address too), then the address is at its 6.
        assert _vote(client, "POST", bob, P2).status_code == 200
        assert _vote(client, "POST", bob, P1).status_code == 200
        refused = _vote(client, "POST", carol, P2)
        assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
    assert _counts(engine, P1) == (5, 2, 2)
    assert _counts(engine, P2) == (7, 1, 1)
    _no_drift(engine)


def test_the_page_button_is_limited_per_account(settings, engine) -> None:
    from fastapi.testclient import TestClient

    _load(engine, {P1: (5, "08:00")})
    (uid, _token), = _users(engine, 1)
    cookie, csrf = _session(engine, uid)
    app = create_app(settings.model_copy(update={"ratelimit_vote_per_user": "1/minute"}), engine)
    with TestClient(app) as client:
        client.cookies.set("dp_session", cookie)
        first = client.post(f"/papers/{P1}/vote", data={"csrf_token": csrf},
                            follow_redirects=False)
        assert first.status_code == 303
        second = client.post(f"/papers/{P1}/vote", data={"csrf_token": csrf},
                             follow_redirects=False)
        assert second.status_code == 429 and int(second.headers["retry-after"]) >= 1
        assert "Too many" in second.text
    assert _counts(engine, P1) == (5, 1, 1)  # the second toggle did not take the vote back


@pytest.mark.parametrize("name", ["ratelimit_vote_per_ip", "ratelimit_vote_per_user"])
def test_a_bad_vote_limit_is_a_one_line_error_naming_the_setting(name: str) -> None:
    from dailypapers.settings import Settings

    with pytest.raises(ValueError, match=f"DAILYPAPERS_{name.upper()}"):
        Settings(**{name: "lots"})


def test_a_vote_stamps_its_token_last_used_at_most_once_an_hour(client, engine) -> None:
    """The stamp is decided inside the vote's statement: due after an hour, not before."""
    from dailypapers.db.engine import db_now, write_transaction

    _load(engine, {P1: (5, "08:00")})
    (_a, due), (_b, fresh), (_c, never) = _users(engine, 3)
    with write_transaction(engine) as conn:
        now = db_now(conn)
        stamps = {1: now - dt.timedelta(hours=2), 2: now - dt.timedelta(minutes=1), 3: None}
        for token_id, stamp in stamps.items():
            conn.execute(api_tokens.update().where(api_tokens.c.id == token_id)
                         .values(last_used_at=stamp))
    for token in (due, fresh, never):
        assert _vote(client, "POST", token).status_code == 200
    with engine.connect() as conn:
        after = dict(conn.execute(sa.select(api_tokens.c.id, api_tokens.c.last_used_at)).all())
    utc = dt.timezone.utc
    seen = {k: v if v is None or v.tzinfo else v.replace(tzinfo=utc) for k, v in after.items()}
    assert seen[1] >= now and seen[3] >= now  # stamped
    assert seen[2] == stamps[2]  # left alone
