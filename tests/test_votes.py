"""Upvotes: exact under concurrency through a live server (SQLite and PostgreSQL), a cache that
`db recount` checks and repairs, counts shown everywhere as Hugging Face's + ours, the keyword
index seeing a vote without the embedder seeing a text change, and the stored trending score
following votes."""

from __future__ import annotations

import asyncio
import datetime as dt
import math
import os
import re

import httpx
import lxml.html
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from dailypapers.cli import main
from dailypapers.community.sessions import API_TOKEN_PREFIX, hash_token, start_session
from dailypapers.community.votes import set_vote
from dailypapers.db.engine import db_now, write_transaction
from dailypapers.db.schema import api_tokens, feature_days, papers, users, votes
from dailypapers.index import keyword_store as ks
from dailypapers.index.keyword import KeywordIndex
from dailypapers.index.vectors import pending
from dailypapers.ingest import hf_daily
from dailypapers.rank.stored import recount
from dailypapers.rank.trending import TrendingParams
from tests.helpers import hf_item, store

os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

DAY = "2026-03-02"
P1, P2 = "2603.50001", "2603.50002"


@pytest.fixture
def settings(settings):  # type: ignore[no-untyped-def]
    """conftest's, with vote limits no test here meets (200 voters share one address)."""
    return settings.model_copy(update={"ratelimit_vote_per_ip": "100000/minute",
                                       "ratelimit_vote_per_user": "100000/minute"})


def _load(engine, spec: dict[str, tuple[int, str]], day: str = DAY) -> None:
    """Papers of one day: id -> (Hugging Face upvotes, time featured); no comments."""
    items = []
    for pid, (upvotes, clock) in spec.items():
        item = hf_item(pid, title=f"Quokka study {pid}", upvotes=upvotes, day=day,
                       submittedOnDailyAt=f"{day}T{clock}:00.000Z")
        item["numComments"] = 0
        items.append(item)
    store(engine, list(hf_daily.parse_items(items, day=dt.date.fromisoformat(day))))


def _users(engine, count: int, prefix: str = "voter") -> list[tuple[int, str]]:
    """``count`` users, each with an API token: [(user id, token)]."""
    out = []
    with write_transaction(engine) as conn:
        now = db_now(conn)
        for n in range(count):
            name = f"{prefix}{n}"
            uid = conn.execute(users.insert().values(
                username=name, username_key=name, password_hash="!", created_at=now,
                password_changed_at=now)).inserted_primary_key[0]
            token = f"{API_TOKEN_PREFIX}{prefix}-{n}-" + "x" * 40
            conn.execute(api_tokens.insert().values(
                user_id=uid, token_hash=hash_token(token), name="test", created_at=now))
            out.append((uid, token))
    return out


def _session(engine, user_id: int) -> tuple[str, str]:
    with write_transaction(engine) as conn:
        return start_session(conn, user_id, dt.timedelta(days=1))


def _counts(engine, pid: str) -> tuple[int, int, int]:
    """(papers.upvotes, papers.local_upvotes, COUNT(*) of votes)."""
    with engine.connect() as conn:
        upvotes, local = conn.execute(
            sa.select(papers.c.upvotes, papers.c.local_upvotes).where(papers.c.id == pid)).one()
        rows = conn.execute(sa.select(sa.func.count()).select_from(votes)
                            .where(votes.c.paper_id == pid)).scalar_one()
    return upvotes, local, rows


def _no_drift(engine) -> None:
    with write_transaction(engine) as conn:
        report = recount(conn, TrendingParams())
    assert not report.drift, report


def _db_recount_says_no_drift(db_url, tmp_path, monkeypatch) -> None:
    """`dailypapers db recount`, the command an operator runs, on the test's database."""
    from dailypapers.settings import get_settings

    monkeypatch.setenv("DAILYPAPERS_DATABASE_URL", db_url)
    monkeypatch.setenv("DAILYPAPERS_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(main, ["db", "recount"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert "No drift." in result.output, result.output


async def _all_at_once(url: str, calls: list[tuple[str, str, dict]]) -> list[int]:  # type: ignore[type-arg]
    limits = httpx.Limits(max_connections=len(calls))
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=120) as client:
        answers = await asyncio.gather(*(client.request(m, path, **kw) for m, path, kw in calls))
    return [a.status_code for a in answers]


# --- concurrency, through a live server --------------------------------------------------------


def test_200_users_upvoting_one_paper_at_once_give_exactly_200(
        engine, live_server, db_url, tmp_path, monkeypatch) -> None:
    """Fails if racing votes lose updates of the cache (a read-modify-write, or a COUNT(*) under
    READ COMMITTED, leaves it short) or if the unique constraint lets a vote in twice."""
    _load(engine, {P1: (12, "08:00")})
    voters = _users(engine, 200)
    calls = [("POST", f"/api/v1/papers/{P1}/vote", {"headers": {"Authorization": f"Bearer {t}"}})
             for _uid, t in voters]
    statuses = asyncio.run(_all_at_once(live_server.url, calls))
    assert statuses == [200] * 200
    assert _counts(engine, P1) == (12, 200, 200)
    body = httpx.get(f"{live_server.url}/api/v1/papers/{P1}").json()
    assert (body["upvotes"], body["upvotesHuggingFace"], body["upvotesLocal"]) == (212, 12, 200)
    _db_recount_says_no_drift(db_url, tmp_path, monkeypatch)


def test_one_user_voting_50_times_at_once_gives_1(
        engine, live_server, db_url, tmp_path, monkeypatch) -> None:
    """Fails if a repeated POST adds a second vote or moves the cache twice."""
    _load(engine, {P1: (3, "08:00")})
    (_uid, token), = _users(engine, 1)
    calls = [("POST", f"/api/v1/papers/{P1}/vote",
              {"headers": {"Authorization": f"Bearer {token}"}})] * 50
    assert asyncio.run(_all_at_once(live_server.url, calls)) == [200] * 50
    assert _counts(engine, P1) == (3, 1, 1)
    _db_recount_says_no_drift(db_url, tmp_path, monkeypatch)


def test_50_concurrent_toggles_from_the_page_keep_the_cache_equal_to_the_rows(
        engine, live_server) -> None:
    """Fails if racing toggles (delete-or-insert) move the cache without a row really added or
    removed: it must end 0 or 1 and equal COUNT(*)."""
    _load(engine, {P1: (3, "08:00")})
    (uid, _token), = _users(engine, 1)
    cookie, csrf = _session(engine, uid)
    calls = [("POST", f"/papers/{P1}/vote",
              {"data": {"csrf_token": csrf, "next": "/papers"},
               "headers": {"Cookie": f"dp_session={cookie}"}})] * 50
    statuses = asyncio.run(_all_at_once(live_server.url, calls))
    assert statuses == [303] * 50
    _imported, local, rows = _counts(engine, P1)
    assert local == rows and rows in (0, 1)
    _no_drift(engine)


# --- the routes ------------------------------------------------------------------------------


def test_vote_api_needs_a_token_and_a_paper_and_undoes(client, engine) -> None:
    _load(engine, {P1: (12, "08:00")})
    (_uid, token), = _users(engine, 1)
    auth = {"Authorization": f"Bearer {token}"}
    assert client.post(f"/api/v1/papers/{P1}/vote").status_code == 401
    bad = client.post(f"/api/v1/papers/{P1}/vote", headers={"Authorization": "Bearer dp_nope"})
    assert bad.status_code == 401 and "error" in bad.json()
    assert client.post("/api/v1/papers/2603.99999/vote", headers=auth).status_code == 404
    assert client.post("/api/v1/papers/not-an-id/vote", headers=auth).status_code == 404
    first = client.post(f"/api/v1/papers/{P1}/vote", headers=auth).json()
    assert (first["voted"], first["changed"], first["upvotes"]) == (True, True, 13)
    again = client.post(f"/api/v1/papers/{P1}/vote", headers=auth).json()
    assert (again["voted"], again["changed"], again["upvotes"]) == (True, False, 13)
    gone = client.delete(f"/api/v1/papers/{P1}/vote", headers=auth).json()
    assert (gone["voted"], gone["changed"], gone["upvotes"], gone["upvotesLocal"]) == \
        (False, True, 12, 0)
    assert client.delete(f"/api/v1/papers/{P1}/vote", headers=auth).json()["changed"] is False
    assert client.get("/api/v1/papers/2603.99999").status_code == 404


def test_the_page_button_needs_sign_in_and_csrf_and_toggles(client, engine) -> None:
    _load(engine, {P1: (12, "08:00")})
    (uid, _token), = _users(engine, 1)
    anonymous = client.post(f"/papers/{P1}/vote", data={"csrf_token": "x"},
                            follow_redirects=False)
    assert anonymous.status_code in (303, 403)
    cookie, csrf = _session(engine, uid)
    client.cookies.set("dp_session", cookie)
    forged = client.post(f"/papers/{P1}/vote", data={"csrf_token": "0" * 64},
                         follow_redirects=False)
    assert forged.status_code == 403
    assert _counts(engine, P1) == (12, 0, 0)
    back = client.post(f"/papers/{P1}/vote", data={"csrf_token": csrf, "next": f"/papers/date/{DAY}"},
                       follow_redirects=False)
    assert (back.status_code, back.headers["location"]) == (303, f"/papers/date/{DAY}")
    assert _counts(engine, P1) == (12, 1, 1)
    evil = client.post(f"/papers/{P1}/vote", data={"csrf_token": csrf, "next": "//evil.example/"},
                       follow_redirects=False)
    assert evil.headers["location"] == f"/papers/{P1}"  # no open redirect; and toggled off
    assert _counts(engine, P1) == (12, 0, 0)


def test_cards_pages_and_hf_shapes_show_imported_plus_local(client, engine) -> None:
    """Fails if any surface shows only one of the two counts."""
    _load(engine, {P1: (12, "08:00"), P2: (14, "09:00")})
    voters = _users(engine, 3)
    with write_transaction(engine) as conn:
        for uid, _t in voters:
            set_vote(conn, uid, P1, True, TrendingParams())
    page = client.get(f"/papers/date/{DAY}?sort=upvotes").text
    cards = lxml.html.fromstring(page).cssselect("article.card")
    assert [c.get("data-paper-id") for c in cards] == [P1, P2]  # 15 before 14
    assert cards[0].cssselect(".count")[0].text_content() == "15"
    assert "12 on Hugging Face + 3 here" in cards[0].text_content()
    assert "here" not in cards[1].cssselect(".meta")[0].text_content()
    paper_page = client.get(f"/papers/{P1}").text
    assert "12 on Hugging Face + 3 here" in paper_page
    daily = client.get("/api/daily_papers", params={"date": DAY, "sort": "upvotes"}).json()
    assert [(i["paper"]["id"], i["paper"]["upvotes"]) for i in daily] == [(P1, 15), (P2, 14)]
    latest = client.get("/api/daily_papers", params={"sort": "upvotes"}).json()
    assert [i["paper"]["id"] for i in latest] == [P1, P2]
    assert client.get(f"/api/papers/{P1}").json()["upvotes"] == 15
    listed = {p["id"]: p["upvotes"] for p in client.get("/api/papers").json()}
    assert listed == {P1: 15, P2: 14}
    assert "**Upvotes:** 15" in client.get(f"/papers/{P1}.md").text


def test_an_import_keeps_our_votes_and_rescores(engine) -> None:
    """Fails if re-importing a paper writes back the local count it read (undoing votes) or
    leaves the stored score on the old upvotes."""
    _load(engine, {P1: (12, "08:00")})
    (uid, _t), = _users(engine, 1)
    with write_transaction(engine) as conn:
        set_vote(conn, uid, P1, True, TrendingParams())
    _load(engine, {P1: (99, "08:00")})  # Hugging Face's count moved
    assert _counts(engine, P1) == (99, 1, 1)
    with engine.connect() as conn:
        score = conn.execute(sa.select(feature_days.c.trending_score)).scalar_one()
    hours = (dt.datetime(2026, 3, 2, 8) - dt.datetime(1970, 1, 1)).total_seconds() / 3600
    assert score == pytest.approx(math.log10(100) + hours / 48, abs=1e-9)
    _no_drift(engine)


# --- trending follows votes --------------------------------------------------------------------


def test_a_vote_moves_the_stored_trending_order(client, engine) -> None:
    """P1 (08:00, 10 votes) and P2 (14:00, 5 votes): log10(10) + 8/48 = 1.1667 vs log10(5) +
    14/48 = 0.9907 (+ the same hours to the day): P1 first. Four local votes on P2 make 9
    points: log10(9) + 14/48 = 1.2459: P2 first. Upvote order would keep P1 (10 > 9)."""
    _load(engine, {P1: (10, "08:00"), P2: (5, "14:00")})
    trending = {"date": DAY, "sort": "trending"}
    assert [i["paper"]["id"] for i in client.get("/api/daily_papers", params=trending).json()] \
        == [P1, P2]
    voters = _users(engine, 4)
    with write_transaction(engine) as conn:
        for uid, _t in voters:
            set_vote(conn, uid, P2, True, TrendingParams())
    assert [i["paper"]["id"] for i in client.get("/api/daily_papers", params=trending).json()] \
        == [P2, P1]
    by_votes = client.get("/api/daily_papers", params={"date": DAY, "sort": "upvotes"}).json()
    assert [i["paper"]["id"] for i in by_votes] == [P1, P2]
    detail = client.get(f"/api/v1/papers/{P2}").json()
    base = (dt.datetime(2026, 3, 2) - dt.datetime(1970, 1, 1)).total_seconds() / 3600
    assert detail["featured"][0]["trendingScore"] == pytest.approx(
        math.log10(9) + (base + 14) / 48, abs=1e-9)


def test_about_trending_shows_formula_settings_and_a_paper(client, engine) -> None:
    _load(engine, {P1: (10, "08:00"), P2: (5, "14:00")})
    page = lxml.html.fromstring(client.get("/about/trending").text)
    assert "log10(max(points, 1))" in page.cssselect("pre.formula")[0].text_content()
    assert page.cssselect("td.tau")[0].text_content() == "48"
    assert page.cssselect("td.cap")[0].text_content() == "10"
    assert page.cssselect("p.example")[0].get("data-paper-id") == P1  # the day's top paper
    assert page.cssselect(".points")[0].text_content() == "10"
    base = (dt.datetime(2026, 3, 2) - dt.datetime(1970, 1, 1)).total_seconds() / 3600
    assert page.cssselect(".score")[0].text_content() == f"{1 + (base + 8) / 48:.6f}"
    other = lxml.html.fromstring(client.get(f"/about/trending?paper={P2}").text)
    assert other.cssselect(".points")[0].text_content() == "5"
    listing = lxml.html.fromstring(client.get(f"/papers/date/{DAY}").text)
    assert listing.cssselect("nav.sort-nav a[href='/about/trending']")


# --- db recount --------------------------------------------------------------------------------


def test_recount_finds_and_fixes_a_corrupted_cache(engine, db_url, tmp_path, monkeypatch) -> None:
    """Fails if recount trusts the cache instead of the rows, misses a stale score, or reports
    drift when there is none."""
    _load(engine, {P1: (10, "08:00"), P2: (5, "14:00")})
    voters = _users(engine, 2)
    with write_transaction(engine) as conn:
        for uid, _t in voters:
            set_vote(conn, uid, P1, True, TrendingParams())
        conn.execute(papers.update().where(papers.c.id == P1).values(local_upvotes=7))
        conn.execute(feature_days.update().where(feature_days.c.paper_id == P2)
                     .values(trending_score=0))
    monkeypatch.setenv("DAILYPAPERS_DATABASE_URL", db_url)
    monkeypatch.setenv("DAILYPAPERS_DATA_DIR", str(tmp_path))
    from dailypapers.settings import get_settings
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        first = runner.invoke(main, ["db", "recount"])
        assert first.exit_code == 0, first.output
        assert f"{P1}: local upvotes 7 -> 2" in first.output
        assert re.search(r"Fixed 1 local upvote counts and 1 trending scores", first.output)  # P2 (P1 was right)
        assert _counts(engine, P1) == (10, 2, 2)
        second = runner.invoke(main, ["db", "recount"])
        assert second.exit_code == 0 and "No drift." in second.output
        # A setting changed: recount applies it to every stored score.
        monkeypatch.setenv("DAILYPAPERS_TRENDING_TAU_HOURS", "24")
        get_settings.cache_clear()
        third = runner.invoke(main, ["db", "recount"])
        assert "Fixed 0 local upvote counts and 2 trending scores" in third.output
    finally:
        get_settings.cache_clear()
    with engine.connect() as conn:
        score = conn.execute(sa.select(feature_days.c.trending_score)
                             .where(feature_days.c.paper_id == P2)).scalar_one()
    base = (dt.datetime(2026, 3, 2) - dt.datetime(1970, 1, 1)).total_seconds() / 3600
    assert score == pytest.approx(math.log10(5) + (base + 14) / 24, abs=1e-9)


# --- search and embeddings ---------------------------------------------------------------------


def test_keyword_sort_by_upvotes_sees_a_vote_but_the_embedder_does_not(engine, tmp_path) -> None:
    """Fails if a vote is invisible to the keyword index's catch-up (no counts stamp read), or
    if it looks like a text change to the embedder (row_updated_at touched)."""
    _load(engine, {P1: (10, "08:00"), P2: (11, "09:00")})
    index = KeywordIndex.ensure(engine, ks.keyword_dir(tmp_path))
    assert [h.paper_id for h in index.search("quokka", sort="upvotes").hits] == [P2, P1]
    with write_transaction(engine) as conn:  # both papers embedded, as far as pending() knows
        conn.execute(sa.text(
            "INSERT INTO paper_embeddings (paper_id, model, dim, text_hash, vector, created_at) "
            "SELECT id, 'm', 1, 'h', :v, :t FROM papers"), {"v": b"\x00\x00", "t": db_now(conn)})
    voters = _users(engine, 2)
    with write_transaction(engine) as conn:
        for uid, _t in voters:
            set_vote(conn, uid, P1, True, TrendingParams())
    report = index.update(engine)
    assert report.indexed == 1
    assert [h.paper_id for h in index.search("quokka", sort="upvotes").hits] == [P1, P2]
    with engine.connect() as conn:
        assert pending(conn, "m", 10) == []


# --- Hugging Face's own client ------------------------------------------------------------------


def test_huggingface_hub_reads_imported_then_the_sum(engine, live_server) -> None:
    from huggingface_hub import HfApi

    _load(engine, {P1: (12, "08:00"), P2: (14, "09:00")})
    api = HfApi(endpoint=live_server.url)
    assert api.paper_info(P1).upvotes == 12
    voters = _users(engine, 3)
    for _uid, token in voters:
        answer = httpx.post(f"{live_server.url}/api/v1/papers/{P1}/vote",
                            headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 200
    assert api.paper_info(P1).upvotes == 15
    daily = {p.id: p.upvotes for p in api.list_daily_papers(date=DAY)}
    assert daily == {P1: 15, P2: 14}
