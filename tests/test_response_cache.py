"""Caching that is safe (web/cache.py): anonymous answers carry an ETag and revalidate to a 304,
anything personal is private and never kept, errors are never public, and a write through one
server shows at once in the cached anonymous answers of another server on the same database."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
import pytest
from fastapi.responses import Response
from fastapi.testclient import TestClient

from dailypapers.community.sessions import API_TOKEN_PREFIX, hash_token, start_session
from dailypapers.db.engine import db_now, make_engine, write_transaction
from dailypapers.db.schema import api_tokens, papers, users
from dailypapers.ingest.files import import_paths
from dailypapers.web.app import create_app
from tests.conftest import LiveServer
from tests.helpers import hf_item, write_json

PAPER, RIVAL, OTHER_DAY = "2603.00001", "2603.00002", "2603.00003"
PUBLIC, PRIVATE = "public, no-cache", "private, no-store"


@pytest.fixture
def loaded(engine, tmp_path):  # type: ignore[no-untyped-def]
    items = [hf_item(PAPER, title="Widget study", upvotes=7, day="2026-03-02"),
             hf_item(RIVAL, title="Gadget study", upvotes=7, day="2026-03-02")]
    import_paths(engine, [write_json(tmp_path / "2026-03-02.json", items),
                          write_json(tmp_path / "2026-03-03.json", [
                              hf_item(OTHER_DAY, title="Sprocket study", upvotes=1,
                                      day="2026-03-03")])])
    return engine


def _user(engine, name: str = "reader") -> tuple[str, str]:  # type: ignore[no-untyped-def]
    """A user with a session and an API token: (session cookie, token)."""
    with write_transaction(engine) as conn:
        now = db_now(conn)
        uid = conn.execute(users.insert().values(
            username=name, username_key=name, password_hash="!", created_at=now,
            password_changed_at=now)).inserted_primary_key[0]
        token = f"{API_TOKEN_PREFIX}{name}-" + "x" * 40
        conn.execute(api_tokens.insert().values(user_id=uid, token_hash=hash_token(token),
                                                name="test", created_at=now))
        cookie, _csrf = start_session(conn, uid, dt.timedelta(days=1))
    return cookie, token


@pytest.fixture
def app(loaded, settings):  # type: ignore[no-untyped-def]
    app = create_app(settings, loaded)

    @app.get("/kept-error", include_in_schema=False)
    def kept_error() -> Response:  # a route that wrongly asks shared caches to keep an error
        return Response("gone", status_code=404, headers={"Cache-Control": "public, max-age=600"})

    return app


@pytest.fixture
def web(app):  # type: ignore[no-untyped-def]
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def test_anonymous_answers_carry_an_etag_and_revalidate_to_304(app, web):
    store = app.state.response_cache
    for path, vary in ((f"/papers/{PAPER}", "Cookie"), ("/papers/date/2026-03-02", "Cookie"),
                       (f"/api/papers/{PAPER}", "Cookie, Authorization"),
                       ("/api/daily_papers?date=2026-03-02", "Cookie, Authorization")):
        first = web.get(path)
        assert first.status_code == 200, path
        etag = first.headers["etag"]
        assert etag.startswith('"') and len(etag) > 10
        assert first.headers["cache-control"] == PUBLIC
        assert first.headers["vary"] == vary
        hits = store.hits
        again = web.get(path, headers={"If-None-Match": etag})
        assert again.status_code == 304 and again.content == b"", path
        assert again.headers["etag"] == etag and again.headers["cache-control"] == PUBLIC
        assert store.hits == hits + 1  # answered from the cache, not rendered again
        weak = web.get(path, headers={"If-None-Match": f'"other", W/{etag}'})
        assert weak.status_code == 304
        stale = web.get(path, headers={"If-None-Match": '"not-this-one"'})
        assert stale.status_code == 200 and stale.content == first.content
        head = web.head(path)
        assert head.status_code == 200 and head.content == b"" and head.headers["etag"] == etag
    other = web.get("/papers/2603.00002")
    assert other.headers["etag"] != web.get(f"/papers/{PAPER}").headers["etag"]


def test_signed_in_and_personal_answers_are_private_and_never_kept(app, web, loaded):
    cookie, token = _user(loaded)
    anonymous = web.get(f"/papers/{PAPER}")
    assert "reader" not in anonymous.text
    web.cookies.set("dp_session", cookie)
    signed_in = web.get(f"/papers/{PAPER}")
    assert signed_in.status_code == 200
    assert "reader" in signed_in.text  # rendered for them, not the cached anonymous page
    assert signed_in.headers["cache-control"] == PRIVATE
    assert "Cookie" in signed_in.headers["vary"] and "etag" not in signed_in.headers
    web.cookies.clear()
    assert "reader" not in web.get(f"/papers/{PAPER}").text  # theirs was not kept either
    # A session cookie, valid or not, and any API token: private.
    web.cookies.set("dp_session", "expired")
    stale_cookie = web.get("/papers")
    web.cookies.clear()
    assert stale_cookie.headers["cache-control"] == PRIVATE
    api = web.get(f"/api/papers/{PAPER}", headers={"Authorization": f"Bearer {token}"})
    assert api.status_code == 200 and api.headers["cache-control"] == PRIVATE
    assert "Authorization" in api.headers["vary"]
    # Anonymous, but this visitor's own: a form with their CSRF token, a credential link.
    login = web.get("/login")
    assert login.status_code == 200 and login.headers["cache-control"] == PRIVATE
    assert "set-cookie" in login.headers  # the CSRF cookie it made
    hits = app.state.response_cache.hits
    again = web.get("/login")  # now with the cookie: the same token, printed again
    assert again.headers["cache-control"] == PRIVATE and "set-cookie" not in again.headers
    assert app.state.response_cache.hits == hits
    reset = web.get("/reset/some-token")  # an unknown link: an error page, no-store either way
    assert reset.headers["cache-control"] in (PRIVATE, "no-store") and "etag" not in reset.headers


def test_errors_are_never_public(web):
    for path, status in ((f"/papers/2401.99999", 404), ("/api/papers/2401.99999", 404),
                         ("/papers/date/not-a-day", 400), ("/api/daily_papers?limit=0", 400),
                         ("/kept-error", 404)):
        response = web.get(path)
        assert response.status_code == status, path
        assert response.headers["cache-control"] == "no-store", path
        assert "etag" not in response.headers, path


def _server(settings, db_url):  # type: ignore[no-untyped-def]
    """Another web process's worth of state: its own engine, app, cache and search."""
    engine = make_engine(db_url)
    server = LiveServer(create_app(settings.model_copy(update={"cache_seconds": 600}), engine))
    server.tmp = settings.data_dir  # type: ignore[attr-defined]
    return server


def _upvotes(http: httpx.Client, url: str, paper: str = PAPER) -> int:
    return http.get(f"{url}/api/papers/{paper}").json()["upvotes"]


def test_a_vote_through_one_server_shows_at_once_in_another(loaded, settings, db_url):
    """Server ``two`` caches; votes go through server ``one``. A vote ends exactly the cached
    answers that read the voted paper, and those whose selection depends on votes."""
    _cookie, token = _user(loaded)
    vote = {"headers": {"Authorization": f"Bearer {token}"}}
    top = "/api/daily_papers?sort=upvotes&limit=1"  # the most upvoted paper, across days
    with _server(settings, db_url) as one, _server(settings, db_url) as two, \
            httpx.Client() as http:
        cache = two.server.config.app.state.response_cache

        def hits(path: str) -> int:
            before = cache.hits
            http.get(f"{two.url}{path}")
            return cache.hits - before

        assert _upvotes(http, two.url) == 7
        page = http.get(f"{two.url}/papers/{PAPER}")
        day = http.get(f"{two.url}/papers/date/2026-03-02")
        assert [p["paper"]["id"] for p in http.get(f"{two.url}{top}").json()] == [PAPER]
        for path in (f"/api/papers/{PAPER}", f"/papers/{PAPER}", "/papers/date/2026-03-02", top):
            assert hits(path) == 1, path  # kept: a missed invalidation would show below
        # A vote on a paper of another day: what did not read it stays cached.
        http.post(f"{one.url}/api/v1/papers/{OTHER_DAY}/vote", **vote).raise_for_status()
        assert _upvotes(http, two.url, OTHER_DAY) == 2
        for path in (f"/api/papers/{PAPER}", f"/papers/{PAPER}", "/papers/date/2026-03-02"):
            assert hits(path) == 1, path
        assert hits(top) == 0  # which paper is the most upvoted may have changed
        # A vote on the paper itself: its answers change at once.
        voted = http.post(f"{one.url}/api/v1/papers/{PAPER}/vote", **vote)
        assert voted.status_code == 200, voted.text
        assert _upvotes(http, two.url) == 8
        fresh = http.get(f"{two.url}/papers/{PAPER}",
                         headers={"If-None-Match": page.headers["etag"]})
        assert fresh.status_code == 200 and fresh.headers["etag"] != page.headers["etag"]
        assert http.get(f"{two.url}/papers/date/2026-03-02").headers["etag"] != \
            day.headers["etag"]
        # A vote that moves a paper into a list it was not read for (limit 1, by upvotes).
        http.post(f"{one.url}/api/v1/papers/{RIVAL}/vote", **vote).raise_for_status()
        http.delete(f"{one.url}/api/v1/papers/{PAPER}/vote", **vote).raise_for_status()
        assert [p["paper"]["id"] for p in http.get(f"{two.url}{top}").json()] == [RIVAL]
        assert _upvotes(http, two.url) == 7
        # A write rolled back moves nothing: the cache keeps its answers.
        assert hits(f"/api/papers/{PAPER}") == 1  # kept since the line above
        with pytest.raises(RuntimeError), write_transaction(loaded) as conn:
            conn.execute(papers.update().where(papers.c.id == PAPER).values(upvotes=100))
            raise RuntimeError("rolled back")
        assert hits(f"/api/papers/{PAPER}") == 1
        # Any other write (here an import) ends every cached answer.
        import_paths(loaded, [write_json(two.tmp / "2026-03-02.json", [
            hf_item(PAPER, title="Widget study, revised", upvotes=7, day="2026-03-02")])])
        assert hits(f"/api/papers/{PAPER}") == 0
        assert "revised" in http.get(f"{two.url}/papers/{PAPER}").text


_WRITE_ELSEWHERE = textwrap.dedent("""
    import sys
    from dailypapers.db.engine import make_engine, write_transaction
    from dailypapers.db.schema import papers
    with write_transaction(make_engine(sys.argv[1])) as conn:
        conn.execute(papers.update().where(papers.c.id == sys.argv[2]).values(title=sys.argv[3]))
""")


def _wait_for(condition, seconds: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "not within the bound"
        time.sleep(0.02)


def test_a_write_by_another_os_process_ends_cached_answers(loaded, settings, db_url):
    """The write comes from another OS process, so this process's own count of commits does not
    move: on PostgreSQL only the write's NOTIFY can end the cached answer (a hit there reads no
    version while the listener is connected); on SQLite every request reads the version. With
    the listener down, every request reads again."""
    path = f"/api/papers/{PAPER}"
    with _server(settings, db_url) as two, httpx.Client() as http:
        app = two.server.config.app
        cache, versions = app.state.response_cache, app.state.data_versions
        listener = versions.listener
        assert (listener is not None) == db_url.startswith("postgresql")
        if listener is not None:
            _wait_for(lambda: listener.connected)
        http.get(f"{two.url}{path}")
        hits, reads = cache.hits, versions.reads
        for _ in range(3):
            assert "Widget study" in http.get(f"{two.url}{path}").text
        assert cache.hits == hits + 3
        assert versions.reads == (reads if listener is not None else reads + 3)
        subprocess.run([sys.executable, "-c", _WRITE_ELSEWHERE, db_url, PAPER, "Widget, afar"],
                       check=True, env={**os.environ, "PYTHONPATH": str(Path.cwd())})
        # A bounded wait, not a timing: without the NOTIFY the answer stays for cache_seconds.
        _wait_for(lambda: "Widget, afar" in http.get(f"{two.url}{path}").text)
        if listener is not None:
            listener.stop()
            assert not listener.connected
            reads = versions.reads
            http.get(f"{two.url}{path}")
            http.get(f"{two.url}{path}")
            assert versions.reads == reads + 2


_VOTE_ELSEWHERE = textwrap.dedent("""
    import sys
    from dailypapers.community.votes import set_vote
    from dailypapers.db.engine import make_engine, write_transaction
    from dailypapers.rank.trending import TrendingParams
    with write_transaction(make_engine(sys.argv[1]), changes="votes") as conn:
        set_vote(conn, int(sys.argv[2]), sys.argv[3], True, TrendingParams())
""")


def test_votes_from_another_os_process_are_checked_without_a_query(loaded, settings, db_url):
    """On PostgreSQL a vote's notification names its paper, and a cached answer is checked
    against this process's log of them: a vote on another paper keeps the answer without reading
    a stamp, a vote on its paper ends it. The vote comes from another OS process, so only the
    notification can tell this one. On SQLite (no listener) the stamps are read instead."""
    path = f"/api/papers/{PAPER}"
    listening = db_url.startswith("postgresql")
    with write_transaction(loaded) as conn:
        now = db_now(conn)
        voter = conn.execute(users.insert().values(
            username="far", username_key="far", password_hash="!", created_at=now,
            password_changed_at=now)).inserted_primary_key[0]

    def vote(paper: str) -> None:
        subprocess.run([sys.executable, "-c", _VOTE_ELSEWHERE, db_url, str(voter), paper],
                       check=True, env={**os.environ, "PYTHONPATH": str(Path.cwd())})

    with _server(settings, db_url) as two, httpx.Client() as http:
        app = two.server.config.app
        cache, versions = app.state.response_cache, app.state.data_versions
        if listening:
            _wait_for(lambda: versions.listener.connected)
        assert _upvotes(http, two.url) == 7
        hits, stamp_reads = cache.hits, versions.stamp_reads
        vote(OTHER_DAY)
        _wait_for(lambda: _upvotes(http, two.url, OTHER_DAY) == 2)
        assert _upvotes(http, two.url) == 7
        assert cache.hits == hits + 1  # kept: the vote was on another paper
        assert versions.stamp_reads == (stamp_reads if listening else stamp_reads + 1)
        vote(PAPER)
        # A bounded wait, not a timing: an answer wrongly kept stays for cache_seconds (600).
        _wait_for(lambda: _upvotes(http, two.url) == 8)
        if listening:
            assert versions.stamp_reads == stamp_reads


def test_the_vote_log_forgets_rolled_back_votes_and_says_when_it_cannot_tell(loaded):
    """A vote rolled back is never logged (nor left on the pooled connection for the next
    transaction); a change too wide to name (``*``) or a log past its bound makes every
    earlier mark unanswerable, so the cache reads the stamps."""
    from dailypapers.db import data_version

    log = data_version.VOTE_LOG
    seq = log.seq
    with pytest.raises(RuntimeError), write_transaction(loaded, changes="votes") as conn:
        data_version.note_voted(conn, PAPER)
        raise RuntimeError("rolled back")
    with write_transaction(loaded, changes="votes") as conn:
        assert data_version.take_voted(conn) == frozenset()
    assert log.seq == seq and not log.changed_since([PAPER], seq)
    with write_transaction(loaded, changes="votes") as conn:
        data_version.note_voted(conn, RIVAL)
    assert log.seq == seq + 1 and log.changed_since([RIVAL], seq)
    assert not log.changed_since([PAPER], seq) and log.knows_since(seq)
    # A commit that raised may have happened (the connection dropped as it went): the votes are
    # logged, since the listener skips this process's own notifications.
    import sqlalchemy as sa

    def lost(conn):  # type: ignore[no-untyped-def]
        raise ConnectionError("the connection dropped at commit")

    seq = log.seq
    with pytest.raises(ConnectionError), write_transaction(loaded, changes="votes") as conn:
        data_version.note_voted(conn, PAPER)
        sa.event.listen(conn, "commit", lost)
    assert log.seq == seq + 1 and log.voted_since([PAPER, RIVAL], seq) == {PAPER}
    fresh = data_version.VoteLog()
    fresh.record(["a"])
    fresh.record([data_version.ALL_VOTES])
    assert not fresh.knows_since(1) and fresh.knows_since(2)
    fresh.MAX_PAPERS = 2
    fresh.record(["b", "c", "d"])
    fresh.record(["e"])  # past the bound: everything before is forgotten
    assert not fresh.knows_since(3) and fresh.knows_since(4)
    assert data_version.parse_voted("v 2603.00001 2603.00002") == ["2603.00001", "2603.00002"]
    assert data_version.parse_voted("") is None and data_version.parse_voted("v") == []
    # another process's names its origin last; this process's own names none (logged at commit)
    assert data_version.parse_voted("v 2603.00001 ~999.abcd") == ["2603.00001"]
    own = f"v 2603.00001 ~{data_version.process_origin()}"
    assert data_version.parse_voted(own) == []
