"""Submissions on SQLite and PostgreSQL through the app: a paper fetched from the fake arXiv (its
``id_list=`` route replays recorded Atom entries) joins today's list with our submitter; every
refusal has its reason; an arXiv outage stores nothing and keeps the form; Hugging Face featuring
the paper later keeps our submitter; `demo remove` keeps a submitted paper.

The app's clock (``app.state.clock``) is set near the recorded papers' dates: the 14-day rule is
about the paper's first version, which the recordings fix."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import lxml.html
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from dailypapers.community.sessions import API_TOKEN_PREFIX, hash_token, start_session
from dailypapers.db.engine import write_transaction
from dailypapers.db.schema import (
    api_tokens, feature_days, ingest_runs, papers, refusals, submissions, users,
)
from dailypapers.ingest.records import SOURCE_ATOM, Author, PaperRecord, ParsedItem
from dailypapers.settings import Settings
from dailypapers.web.app import create_app
from tests.conftest import SHARED_DATA, shared
from tests.fake_upstream import ATOM_PATH, Fault, FakeUpstream
from tests.helpers import store

UTC = dt.timezone.utc
# Recorded in arxiv/api-atom/api_query_20260212T041036Z.xml: first version 2025-02-10T16:26:01Z.
FETCHED = "2502.06628"
FETCHED_FIRST = dt.datetime(2025, 2, 10, 16, 26, 1, tzinfo=UTC)
NOW = dt.datetime(2025, 2, 20, 9, 30, tzinfo=UTC)
TODAY = NOW.date().isoformat()
GENEROUS = {"ratelimit_submit_per_ip": "1000/minute", "ratelimit_submit_per_user": "1000/minute"}


class Site:
    def __init__(self, client: TestClient, fake: FakeUpstream, engine: sa.Engine) -> None:
        self.client, self.fake, self.engine = client, fake, engine

    def set_now(self, when: dt.datetime) -> None:
        self.client.app.state.clock = lambda: when  # type: ignore[attr-defined]

    def user(self, name: str, *, age_days: float = 30) -> tuple[int, str, str, str]:
        """A user created ``age_days`` before the app's now: (id, session cookie, csrf, token)."""
        clock = self.client.app.state.clock  # type: ignore[attr-defined]
        created = clock() - dt.timedelta(days=age_days)
        with write_transaction(self.engine) as conn:
            uid = conn.execute(users.insert().values(
                username=name, username_key=name.lower(), password_hash="!",
                created_at=created, password_changed_at=created)).inserted_primary_key[0]
            token = f"{API_TOKEN_PREFIX}{name}-" + "t" * 40
            conn.execute(api_tokens.insert().values(
                user_id=uid, token_hash=hash_token(token), name="test", created_at=created))
            cookie, csrf = start_session(conn, uid, dt.timedelta(days=1))
        return uid, cookie, csrf, token

    def sign_in(self, cookie: str) -> None:
        self.client.cookies.set("dp_session", cookie)

    def post_form(self, csrf: str, arxiv_id: str, comment: str = "") -> Any:
        return self.client.post("/submit", data={"csrf_token": csrf, "arxiv_id": arxiv_id,
                                                 "comment": comment}, follow_redirects=False)

    def post_api(self, token: str, arxiv_id: str, comment: str | None = None) -> Any:
        body: dict[str, Any] = {"id": arxiv_id}
        if comment is not None:
            body["comment"] = comment
        return self.client.post("/api/v1/submissions", json=body,
                                headers={"Authorization": f"Bearer {token}"})

    def count(self, table: sa.Table, *where: Any) -> int:
        with self.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(table).where(*where)
                                ).scalar_one()


def _site(settings: Settings, engine: sa.Engine, **extra: Any) -> Iterator[Site]:
    shared("arxiv", "api-atom")
    with FakeUpstream(SHARED_DATA) as fake:
        cfg = settings.model_copy(update={
            "arxiv_api_url": fake.url + ATOM_PATH, "sync_min_interval_seconds": 0.0,
            "sync_backoff_seconds": 0.01, "sync_timeout_seconds": 10.0, **GENEROUS, **extra})
        with TestClient(create_app(cfg, engine)) as client:
            site = Site(client, fake, engine)
            site.set_now(NOW)
            yield site


@pytest.fixture
def site(settings: Settings, engine: sa.Engine) -> Iterator[Site]:
    yield from _site(settings, engine)


def _stored_paper(engine: sa.Engine, pid: str, first: dt.datetime, title: str = "") -> None:
    """An arXiv paper already stored but never featured (as an arXiv sync leaves them)."""
    stamp = first.strftime("%Y-%m-%dT%H:%M:%SZ")
    store(engine, [ParsedItem(paper=PaperRecord(
        arxiv_id=pid, source=SOURCE_ATOM, version=1, title=title or f"Stored paper {pid}",
        abstract="An abstract.", authors=[Author(name="Ada Lovelace")], categories=["cs.LG"],
        primary_category="cs.LG", submitted_at=stamp, updated_at=stamp))])


def _recorded_title(pid: str) -> str:
    import re

    text = shared("arxiv", "api-atom", "api_query_20260212T041036Z.xml").read_text()
    entry = text[text.index(f"/abs/{pid}"):]
    return " ".join(re.search(r"<title>(.*?)</title>", entry, re.S).group(1).split())


def _form_error(html: str) -> str:
    return lxml.html.fromstring(html).xpath("string(//*[@id='submit-error'])").strip()


def _form_values(html: str) -> tuple[str, str]:
    doc = lxml.html.fromstring(html)
    return (doc.xpath("string(//input[@name='arxiv_id']/@value)"),
            doc.xpath("string(//textarea[@name='comment'])"))


# --- the happy path --------------------------------------------------------------------------


def test_a_form_submission_fetches_from_arxiv_and_joins_today_with_our_submitter(site) -> None:
    uid, cookie, csrf, _token = site.user("quokka")
    site.sign_in(cookie)
    answer = site.post_form(csrf, f"https://arxiv.org/abs/{FETCHED}v1", "Worth a read: <b>x</b>")
    assert (answer.status_code, answer.headers["location"]) == (303, f"/papers/date/{TODAY}")
    asked = site.fake.requests_to(ATOM_PATH)
    assert [r.query.get("id_list") for r in asked] == [FETCHED]

    with site.engine.connect() as conn:
        feature = conn.execute(sa.select(feature_days)).mappings().one()
        run = conn.execute(sa.select(ingest_runs)).mappings().one()
        note = conn.execute(sa.select(submissions.c.note, submissions.c.user_id)).one()
        title = conn.execute(sa.select(papers.c.title).where(papers.c.id == FETCHED)).scalar_one()
    assert (feature["paper_id"], feature["day"], feature["source"]) == \
        (FETCHED, NOW.date(), "local")
    assert (feature["submitter_name"], feature["submitter_user_id"]) == ("quokka", uid)
    assert feature["submitter"]["username"] == "quokka"
    assert (run["source"], run["status"], run["inserted"]) == ("submission", "ok", 1)
    assert tuple(note) == ("Worth a read: <b>x</b>", uid)
    assert title == _recorded_title(FETCHED)  # arXiv's own record was stored

    daily = site.client.get("/api/daily_papers", params={"date": TODAY}).json()
    assert [(i["paper"]["id"], i["submittedBy"]["name"]) for i in daily] == [(FETCHED, "quokka")]
    listing = lxml.html.fromstring(site.client.get(f"/papers/date/{TODAY}").text)
    links = listing.xpath(
        "//article[@data-paper-id=$p]//a[contains(@class,'submitter-link')]/@href", p=FETCHED)
    assert links == ["/users/quokka"]
    page = site.client.get("/users/quokka")
    assert page.status_code == 200
    doc = lxml.html.fromstring(page.text)
    assert doc.xpath("//li[@class='submission']/@data-paper-id") == [FETCHED]
    assert "Worth a read: <b>x</b>" in doc.xpath("string(//p[@class='submission-note'])")
    assert "<b>x</b>" not in page.text  # escaped, not markup


def test_the_api_submits_with_a_token_and_answers_json_errors(site) -> None:
    _uid, _cookie, _csrf, token = site.user("wombat")
    assert site.client.post("/api/v1/submissions", json={"id": FETCHED}).status_code == 401
    made = site.post_api(token, FETCHED, "from the API")
    assert made.status_code == 201, made.text
    with site.engine.connect() as conn:  # the token's use is stamped with the write
        assert conn.execute(sa.select(api_tokens.c.last_used_at)).scalar_one() is not None
    body = made.json()
    assert (body["id"], body["day"], body["submittedBy"], body["fetchedFromArxiv"]) == \
        (FETCHED, TODAY, "wombat", True)
    again = site.post_api(token, FETCHED)
    assert again.status_code == 409
    assert again.json()["paper"].endswith(f"/papers/{FETCHED}")
    bad = site.post_api(token, "not an id")
    assert bad.status_code == 400 and "arXiv identifier" in bad.json()["error"]
    assert site.client.post("/api/v1/submissions", json={"nope": 1},
                            headers={"Authorization": f"Bearer {token}"}).status_code == 400


def test_the_page_needs_sign_in_and_csrf(site) -> None:
    first = site.client.get("/submit", follow_redirects=False)
    assert (first.status_code, first.headers["location"]) == (303, "/login?next=%2Fsubmit")
    _uid, cookie, _csrf, _token = site.user("numbat")
    site.sign_in(cookie)
    assert site.client.get("/submit").status_code == 200
    forged = site.post_form("0" * 64, FETCHED)
    assert forged.status_code == 403
    assert site.count(feature_days) == 0 and site.fake.requests_to(ATOM_PATH) == []


# --- refusals --------------------------------------------------------------------------------


def test_invalid_ids_are_refused_with_the_form_kept(site) -> None:
    _uid, cookie, csrf, _token = site.user("dingo")
    site.sign_in(cookie)
    for raw in ("", "2502.066", "https://example.org/abs/2502.06628", "x" * 300):
        answer = site.post_form(csrf, raw, "my note")
        assert answer.status_code == 400, raw
        assert "arXiv identifier" in _form_error(answer.text)
        assert _form_values(answer.text) == (raw, "my note")
    assert site.fake.requests_to(ATOM_PATH) == [] and site.count(ingest_runs) == 0


def test_a_paper_arxiv_does_not_know_is_refused_and_the_run_says_so(site) -> None:
    _uid, cookie, csrf, _token = site.user("emu")
    site.sign_in(cookie)
    answer = site.post_form(csrf, "2502.99999")
    assert answer.status_code == 422 and "arXiv has no paper 2502.99999" in _form_error(answer.text)
    with site.engine.connect() as conn:
        run = conn.execute(sa.select(ingest_runs)).mappings().one()
        reasons = conn.execute(sa.select(refusals.c.record_id)).scalars().all()
    assert (run["status"], run["refused"]) == ("ok", 1) and reasons == ["2502.99999"]
    assert site.count(papers) == 0 and site.count(feature_days) == 0


def test_an_already_featured_paper_is_refused_with_a_link(site) -> None:
    _stored_paper(site.engine, "2502.11111", NOW - dt.timedelta(days=2))
    _a, cookie_a, csrf_a, _t = site.user("ant")
    _b, cookie_b, csrf_b, _t2 = site.user("bee")
    site.sign_in(cookie_a)
    assert site.post_form(csrf_a, "2502.11111").status_code == 303
    site.sign_in(cookie_b)
    answer = site.post_form(csrf_b, "arxiv:2502.11111v2")
    assert answer.status_code == 409
    assert "already featured" in _form_error(answer.text)
    assert lxml.html.fromstring(answer.text).xpath(
        "//*[@id='submit-error']/a/@href") == ["/papers/2502.11111"]
    assert site.count(feature_days) == 1 and site.count(submissions) == 1


@pytest.mark.parametrize("offset, accepted", [
    (dt.timedelta(days=14) - dt.timedelta(minutes=1), True),
    (dt.timedelta(days=14) + dt.timedelta(minutes=1), False),
])
def test_the_first_version_may_be_at_most_14_days_old(site, offset, accepted) -> None:
    """Fails if the bound moves a day either way (13 or 15 days), for a fetched paper."""
    site.set_now(FETCHED_FIRST + offset)
    _uid, cookie, csrf, _token = site.user("koala")
    site.sign_in(cookie)
    answer = site.post_form(csrf, FETCHED)
    if accepted:
        assert answer.status_code == 303
        assert site.count(feature_days, feature_days.c.paper_id == FETCHED) == 1
    else:
        assert answer.status_code == 422
        assert "2025-02-10" in _form_error(answer.text) and "14 days" in _form_error(answer.text)
        assert site.count(papers) == 0 and site.count(feature_days) == 0


def test_the_age_rule_holds_for_a_paper_already_stored_too(site) -> None:
    _stored_paper(site.engine, "2502.22222", NOW - dt.timedelta(days=14, minutes=1))
    _stored_paper(site.engine, "2502.33333", NOW - dt.timedelta(days=13, hours=23))
    _uid, _cookie, _csrf, token = site.user("possum")
    assert site.post_api(token, "2502.22222").status_code == 422
    assert site.post_api(token, "2502.33333").status_code == 201
    assert site.fake.requests_to(ATOM_PATH) == []  # stored papers are not fetched again


def _fresh_papers(engine: sa.Engine, count: int) -> list[str]:
    ids = [f"2502.{40000 + n}" for n in range(count)]
    for pid in ids:
        _stored_paper(engine, pid, NOW - dt.timedelta(days=1))
    return ids


def test_five_a_day_for_an_account_older_than_a_week(site) -> None:
    """Fails if the daily allowance is anything but 5 (the default)."""
    ids = _fresh_papers(site.engine, 6)
    _uid, _cookie, _csrf, token = site.user("bilby", age_days=8)
    assert [site.post_api(token, pid).status_code for pid in ids[:5]] == [201] * 5
    refused = site.post_api(token, ids[5])
    assert refused.status_code == 429
    assert "5 papers today" in refused.json()["error"]
    seconds_to_midnight = int((dt.datetime(2025, 2, 21, tzinfo=UTC) - NOW).total_seconds())
    assert refused.headers["Retry-After"] == str(seconds_to_midnight)
    site.set_now(NOW + dt.timedelta(days=1))  # a new UTC day, a new allowance
    assert site.post_api(token, ids[5]).status_code == 201


def test_one_a_day_for_an_account_younger_than_a_week(site) -> None:
    ids = _fresh_papers(site.engine, 2)
    _uid, cookie, csrf, _token = site.user("quoll", age_days=6)
    site.sign_in(cookie)
    assert site.post_form(csrf, ids[0]).status_code == 303
    refused = site.post_form(csrf, ids[1], "keep me")
    assert refused.status_code == 429
    assert "younger than 7 days" in _form_error(refused.text)
    assert _form_values(refused.text) == (ids[1], "keep me")


def test_submissions_are_rate_limited_per_user(settings, engine) -> None:
    for site in _site(settings, engine, ratelimit_submit_per_user="2/minute"):
        _uid, _cookie, _csrf, token = site.user("sugar")
        assert [site.post_api(token, "bad").status_code for _ in range(2)] == [400, 400]
        limited = site.post_api(token, "bad")
        assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
        other = site.user("glider")[3]  # another account is not limited by the first one's
        assert site.post_api(other, "bad").status_code == 400


def test_submissions_are_rate_limited_per_address(settings, engine) -> None:
    for site in _site(settings, engine, ratelimit_submit_per_ip="3/minute"):
        tokens = [site.user(name)[3] for name in ("dunnart", "antechinus")]
        assert [site.post_api(t, "bad").status_code for t in (*tokens, tokens[0])] == [400] * 3
        assert site.post_api(tokens[1], "bad").status_code == 429  # same address, new account


# --- arXiv not answering ---------------------------------------------------------------------


@pytest.mark.parametrize("fault", [Fault.http(503), Fault.close()], ids=["503", "closed"])
def test_an_arxiv_outage_stores_nothing_and_keeps_the_form(site, fault) -> None:
    site.fake.add_fault(ATOM_PATH, fault, times=None)
    _uid, cookie, csrf, _token = site.user("bandicoot")
    site.sign_in(cookie)
    answer = site.post_form(csrf, FETCHED, "a note to keep")
    assert answer.status_code == 503
    assert "arXiv is not answering" in _form_error(answer.text)
    assert _form_values(answer.text) == (FETCHED, "a note to keep")
    assert len(site.fake.requests_to(ATOM_PATH)) == 2  # one retry, then give up
    with site.engine.connect() as conn:
        run = conn.execute(sa.select(ingest_runs)).mappings().one()
    assert (run["source"], run["status"], run["inserted"]) == ("submission", "failed", 0)
    assert run["error"] and run["finished_at"] is not None
    assert site.count(papers) == 0 and site.count(feature_days) == 0
    assert site.count(submissions) == 0
    api = site.post_api(site.user("wallaby")[3], FETCHED)
    assert api.status_code == 503 and "arXiv is not answering" in api.json()["error"]


# --- Hugging Face featuring it later; demo remove ----------------------------------------------


def test_hugging_face_featuring_it_the_same_day_keeps_our_submitter(site, tmp_path: Path) -> None:
    """Through a real import of a Hugging Face daily file: the row keeps our submitter and its
    source, and takes Hugging Face's counts."""
    import json

    from dailypapers.ingest.files import import_paths
    from tests.helpers import hf_item

    uid, _cookie, _csrf, token = site.user("platypus")
    assert site.post_api(token, FETCHED).status_code == 201
    item = hf_item(FETCHED, title="From HF", upvotes=7, day=TODAY)
    item["numComments"] = 4
    path = tmp_path / "hf-daily" / f"{TODAY}.json"
    path.parent.mkdir()
    path.write_text(json.dumps([item]))
    _run, counts = import_paths(site.engine, [path])
    assert counts.refused == 0
    with site.engine.connect() as conn:
        rows = conn.execute(sa.select(feature_days)).mappings().all()
        upvotes = conn.execute(sa.select(papers.c.upvotes)).scalar_one()
    assert len(rows) == 1
    row = rows[0]
    assert (row["source"], row["submitter_name"], row["submitter_user_id"]) == \
        ("local", "platypus", uid)
    assert row["submitter"]["username"] == "platypus"
    assert (row["upvotes"], row["num_comments"], upvotes) == (7, 4, 7)
    daily = site.client.get("/api/daily_papers", params={"date": TODAY}).json()
    assert daily[0]["submittedBy"]["name"] == "platypus" and daily[0]["paper"]["upvotes"] == 7


def test_demo_remove_keeps_a_paper_a_local_user_submitted(site, db_url, monkeypatch) -> None:
    from click.testing import CliRunner

    from dailypapers.cli import main
    from dailypapers.demo import load_demo
    from dailypapers.settings import get_settings

    load_demo(site.engine)
    # In the demo's arXiv sample, never featured: first version 2024-12-16T17:48:59Z.
    demo_paper = "2412.12023"
    assert site.count(feature_days, feature_days.c.paper_id == demo_paper) == 0
    site.set_now(dt.datetime(2024, 12, 20, 12, 0, tzinfo=UTC))
    _uid, _cookie, _csrf, token = site.user("echidna")
    assert site.post_api(token, demo_paper).status_code == 201
    before = site.count(papers)
    monkeypatch.setenv("DAILYPAPERS_DATABASE_URL", db_url)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(main, ["demo", "remove"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert site.count(papers) == 1 < before, result.output
    assert site.count(feature_days) == 1 and site.count(submissions) == 1


# --- the user page ---------------------------------------------------------------------------


def test_the_user_page_lists_newest_first_in_pages_and_404s_unknown_names(site) -> None:
    ids = _fresh_papers(site.engine, 32)
    uid, _cookie, _csrf, _token = site.user("Tuan")
    with write_transaction(site.engine) as conn:  # rows made directly: 32 exceed any allowance
        for n, pid in enumerate(ids):
            when = NOW + dt.timedelta(minutes=n)
            conn.execute(submissions.insert().values(
                user_id=uid, paper_id=pid, day=when.date(), note=None, created_at=when))
    first = lxml.html.fromstring(site.client.get("/users/tuan").text)
    shown = first.xpath("//li[@class='submission']/@data-paper-id")
    assert shown == list(reversed(ids))[:30]
    assert first.xpath("//a[@rel='next']/@href") == ["/users/Tuan?page=2"]
    second = lxml.html.fromstring(site.client.get("/users/Tuan?page=2").text)
    assert second.xpath("//li[@class='submission']/@data-paper-id") == [ids[1], ids[0]]
    assert site.client.get("/users/nobody-here").status_code == 404
    with write_transaction(site.engine) as conn:  # a suspended account's page still shows
        conn.execute(users.update().where(users.c.id == uid).values(suspended_at=NOW))
    suspended = site.client.get("/users/Tuan")
    assert suspended.status_code == 200 and "This account is suspended." in suspended.text
    assert site.client.get("/users/Tuan?page=3").status_code == 404
    assert site.client.get("/users/Tuan?page=x").status_code == 400


# --- a live server, driven like a browser without JavaScript ---------------------------------


def test_sign_up_submit_and_see_it_on_todays_list_over_real_http(settings, engine) -> None:
    from tests.account_helpers import Browser, serve

    shared("arxiv", "api-atom")
    with FakeUpstream(SHARED_DATA) as fake, serve(
            settings, engine, arxiv_api_url=fake.url + ATOM_PATH, sync_min_interval_seconds=0.0,
            **GENEROUS) as server:
        server.app.state.clock = lambda: NOW
        browser = Browser(server.url)
        try:
            assert browser.sign_up("Lyrebird").status_code == 303
            sent = browser.submit("/submit", "/submit", {"arxiv_id": FETCHED,
                                                         "comment": "Sung beautifully"})
            assert (sent.status_code, sent.headers["location"]) == (303, f"/papers/date/{TODAY}")
            day = lxml.html.fromstring(browser.get(sent.headers["location"]).text)
            card = day.xpath("//article[@data-paper-id=$p]", p=FETCHED)
            assert card and card[0].xpath("string(.//span[@class='submitter'])").split() == \
                ["submitted", "by", "Lyrebird"]
            page = lxml.html.fromstring(browser.get("/users/lyrebird").text)
            assert page.xpath("//li[@class='submission']/@data-paper-id") == [FETCHED]
            again = browser.submit("/submit", "/submit", {"arxiv_id": FETCHED})
            assert again.status_code == 429  # a new account: one a day (checked first)
        finally:
            browser.close()
    assert [r.query["id_list"] for r in fake.requests_to(ATOM_PATH)] == [FETCHED]


def test_two_users_submitting_the_same_new_paper_at_once_give_one_entry(settings, engine) -> None:
    """Both fetch it; one wins, the other is told it was just taken (409), never a 500, and no
    run is left running."""
    import asyncio

    import httpx

    from tests.account_helpers import serve

    shared("arxiv", "api-atom")
    with FakeUpstream(SHARED_DATA) as fake, serve(
            settings, engine, arxiv_api_url=fake.url + ATOM_PATH, sync_min_interval_seconds=0.0,
            **GENEROUS) as server:
        server.app.state.clock = lambda: NOW
        site = Site(TestClient(server.app), fake, engine)  # only for its helpers, not requests
        tokens = [site.user(name)[3] for name in ("kiwi", "kea", "tui", "weka")]

        async def all_at_once() -> list[int]:
            async with httpx.AsyncClient(base_url=server.url, timeout=60) as http:
                answers = await asyncio.gather(*(
                    http.post("/api/v1/submissions", json={"id": FETCHED},
                              headers={"Authorization": f"Bearer {t}"}) for t in tokens))
            return sorted(a.status_code for a in answers)

        assert asyncio.run(all_at_once()) == [201, 409, 409, 409]
    assert site.count(papers) == 1 and site.count(feature_days) == 1
    assert site.count(submissions) == 1
    assert site.count(ingest_runs, ingest_runs.c.status == "running") == 0


def test_the_keyword_index_sees_a_submission_of_a_stored_paper(site, tmp_path: Path) -> None:
    """Fails if the new feature day is stamped by the app's clock instead of the database's:
    the index's catch-up compares the database's clock and would never look at it."""
    from dailypapers.index import keyword_store as ks
    from dailypapers.index.keyword import KeywordIndex

    _stored_paper(site.engine, "2502.55555", NOW - dt.timedelta(days=1), title="Marsupial maps")
    index = KeywordIndex.ensure(site.engine, ks.keyword_dir(tmp_path))
    assert index.update(site.engine).indexed == 0
    _uid, _cookie, _csrf, token = site.user("bettong")
    assert site.post_api(token, "2502.55555").status_code == 201
    assert index.update(site.engine).indexed == 1


def test_an_account_suspended_while_arxiv_answers_lists_nothing(site) -> None:
    uid, _cookie, _csrf, token = site.user("cuscus")

    def suspend(_request: Any) -> None:
        with write_transaction(site.engine) as conn:
            conn.execute(users.update().where(users.c.id == uid).values(suspended_at=NOW))

    site.fake.on_request(suspend)
    answer = site.post_api(token, FETCHED)
    assert answer.status_code == 403 and "suspended" in answer.json()["error"]
    assert site.count(papers) == 0 and site.count(feature_days) == 0
    assert site.count(ingest_runs, ingest_runs.c.status == "running") == 0
