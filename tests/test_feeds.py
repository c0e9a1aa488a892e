"""Atom and RSS feeds, on SQLite and PostgreSQL, read by feedparser as a reader would.

Rows are written straight into the tables (as tests/test_templates_hostile.py does), with stored
trending scores chosen so that score order, upvote order, newest-first and id order all differ:
a feed in any order but the page's fails. Dates, GUIDs, authors, summaries and code links are
pinned; so are the 304s of conditional GET, the 400s, and the pages' autodiscovery links.
"""

from __future__ import annotations

import datetime as dt
import email.utils
from typing import Any

import feedparser
import lxml.etree
import lxml.html
import pytest
import sqlalchemy as sa
from fastapi import Request
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from dailypapers.db.engine import write_transaction
from dailypapers.db.schema import feature_days, papers
from dailypapers.settings import Settings
from dailypapers.web.deps import ConnDep
from tests.conftest import TEST_SECRET_KEY
from tests.helpers import search_service

BASE = "https://papers.example.org"
D0, D1, D2 = dt.date(2026, 2, 20), dt.date(2026, 3, 2), dt.date(2026, 3, 3)  # D1, D2: 2026-W10
SCRIPT = "<script>alert(1)</script>"
FORMATS = ("atom", "rss")


def paper(pid: str, *, title: str, upvotes: int = 0, abstract: str = "An abstract.",
          authors: list[str] | None = None, repo: str | None = None,
          categories: list[str] | None = None, submitted: str | None = None,
          source: str = "hf", now: dt.datetime = dt.datetime(2026, 3, 5, 8, 0, tzinfo=dt.timezone.utc),
          ) -> dict[str, Any]:
    return {
        "id": pid, "version": 1, "title": title, "abstract": abstract,
        "authors": [{"name": n} for n in (authors or ["Ada Lovelace", "Alan Turing"])],
        "categories": categories or [], "primary_category": (categories or [None])[0],
        "submitted_at": submitted, "github_repo": repo, "upvotes": upvotes, "num_comments": 0,
        "bib_source": source, "sources": source, "is_demo": False,
        "first_seen_at": now, "row_updated_at": now,
    }


def feature(pid: str, day: dt.date, score: float, at: str | None) -> dict[str, Any]:
    now = dt.datetime(2026, 3, 5, 8, 0, tzinfo=dt.timezone.utc)
    return {"paper_id": pid, "day": day, "source": "hf", "upvotes": 0, "num_comments": 0,
            "published_at": None, "submitted_on_daily_at": at, "submitter_name": "s",
            "is_author_participating": False, "is_demo": False, "trending_score": score,
            "first_seen_at": now, "row_updated_at": now}


def insert(engine: sa.Engine, rows: list[dict[str, Any]], features: list[dict[str, Any]]) -> None:
    with write_transaction(engine) as conn:
        conn.execute(papers.insert(), rows)
        if features:
            conn.execute(feature_days.insert(), features)


# On D2: trending (stored score) B, C, A; upvotes A, C, B; newest C, A, B; ids A, B, C.
A, B, C, D, E = "2603.00001", "2603.00002", "2603.00003", "2603.00004", "2602.00005"
# Search and category data: arXiv-described papers with categories and submission dates.
X, Y, Z, W = "2601.10001", "2602.10002", "2601.10003", "2603.10004"


@pytest.fixture
def data(engine: sa.Engine) -> None:
    many = [f"Author {n}" for n in range(13)]
    insert(engine, [
        paper(A, title="Alpha paper", upvotes=50, repo="https://github.com/acme/alpha",
              abstract="Accuracy rose to 69.4\\% with $x^2$ terms and \\textbf{bold} claims."),
        paper(B, title="Beta paper", upvotes=1, authors=many, repo="javascript:alert(1)"),
        paper(C, title="Gamma paper", upvotes=10),
        paper(D, title="Delta paper", upvotes=5),
        paper(E, title="Epsilon paper", upvotes=2),
        paper(X, title="Graph graph graph theory", categories=["cs.LG"], submitted="2026-01-05",
              source="arxiv"),
        paper(Y, title="Graph neural nets", categories=["cs.CL", "cs.LG"],
              submitted="2026-02-10T17:00:00Z", source="arxiv"),
        paper(Z, title="Graph colouring", categories=["math.CO"], submitted="2026-01-20",
              source="arxiv"),
        paper(W, title="Unrelated topic", categories=["cs.LG"], submitted="2026-03-01",
              source="arxiv"),
    ], [
        feature(A, D2, 1.0, "2026-03-03T10:00:00Z"),
        feature(B, D2, 3.0, "2026-03-03T08:00:00Z"),
        feature(C, D2, 2.0, "2026-03-03T14:00:00+02:00"),  # 12:00 UTC
        feature(D, D1, 5.0, None),  # no time: midnight UTC of its day
        feature(A, D1, 0.5, "2026-03-02T09:00:00Z"),  # A twice in the week: one item
        feature(E, D0, 9.0, "2026-02-20T09:00:00Z"),
    ])


def make_client(settings: Settings, engine: sa.Engine):  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    from dailypapers.web.app import create_app

    app = create_app(settings, engine, search=search_service(engine, settings))
    app.state.search.keyword.update(engine)  # feeds search by keyword only: no embedding needed
    return TestClient(app)


@pytest.fixture
def site(db_url: str, tmp_path, engine: sa.Engine, data: None):  # type: ignore[no-untyped-def]
    settings = Settings(database_url=db_url, data_dir=tmp_path, secret_key=TEST_SECRET_KEY,
                        base_url=BASE)
    with make_client(settings, engine) as client:
        yield client


def read(site, path: str) -> feedparser.FeedParserDict:  # type: ignore[no-untyped-def]
    answer = site.get(path)
    assert answer.status_code == 200, (path, answer.text[:300])
    fmt = path.split("?")[0].rsplit(".", 1)[1]
    assert answer.headers["content-type"] == f"application/{fmt}+xml; charset=utf-8"
    lxml.etree.fromstring(answer.content)  # well-formed XML, or this raises
    parsed = feedparser.parse(answer.content)
    assert parsed.bozo == 0, (path, parsed.get("bozo_exception"))
    assert parsed.version == ("atom10" if fmt == "atom" else "rss20")
    return parsed


def ids(parsed: feedparser.FeedParserDict) -> list[str]:
    return [e.id.removeprefix(f"{BASE}/papers/") for e in parsed.entries]


ORDERS = {
    "/feeds/day/2026-03-03": [B, C, A],
    "/feeds/latest": [B, C, A],
    "/feeds/day/2026-03-02": [D, A],
    "/feeds/week/2026-W10": [D, B, C, A],  # A once, at its better place
    "/feeds/week/2026-W08": [E],
    "/feeds/trending": [E, D, B, C, A],  # the last 7 featured days, by stored score
    "/feeds/day/2026-03-10": [],  # no papers that day: an empty, valid feed
    "/feeds/category/cs.LG": [W, Y, X],  # newest first, Hugging Face papers in none
    "/feeds/category/cs": [W, Y, X],  # an archive: each of its categories
    "/feeds/category/math.CO": [Z],
    "/feeds/category/q-bio.NC": [],
    "/feeds/search?q=graph": [Y, Z, X],  # newest first, not by relevance (X is the best match)
    "/feeds/search?q=graph&category=cs.LG": [Y, X],
    "/feeds/search?q=cat%3Acs.LG+-unrelated": [Y, X],
    "/feeds/search?q=graph&date_from=2026-01-15": [Y, Z],
}


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_feed_lists_its_papers_in_the_pages_order(site, fmt):  # type: ignore[no-untyped-def]
    for path, expected in ORDERS.items():
        stem, _, query = path.partition("?")
        parsed = read(site, f"{stem}.{fmt}" + (f"?{query}" if query else ""))
        assert ids(parsed) == expected, path


def test_the_same_list_as_the_trending_page(site):  # type: ignore[no-untyped-def]
    page = lxml.html.fromstring(site.get("/papers/trending").text)
    shown = [a.get("href").removeprefix("/papers/") for a in page.cssselect("h3.card-title a")]
    # The page lists A twice (two feature days); the feed once, where it first appears.
    assert list(dict.fromkeys(shown)) == ids(read(site, "/feeds/trending.atom"))


@pytest.mark.parametrize("fmt", FORMATS)
def test_items_carry_stable_absolute_guids_dates_authors_and_text(site, fmt):  # type: ignore[no-untyped-def]
    first, again = read(site, f"/feeds/day/2026-03-03.{fmt}"), read(site, f"/feeds/day/2026-03-03.{fmt}")
    assert [e.id for e in first.entries] == [e.id for e in again.entries] == [
        f"{BASE}/papers/{pid}" for pid in (B, C, A)]
    by_id = {e.id.rsplit("/", 1)[1]: e for e in first.entries}
    assert [by_id[p].link for p in (B, C, A)] == [f"{BASE}/papers/{p}" for p in (B, C, A)]
    # Feature times, in UTC (C was featured at 14:00+02:00).
    stamps = {p: dt.datetime(*by_id[p].published_parsed[:6]) for p in (A, B, C)}
    assert stamps == {A: dt.datetime(2026, 3, 3, 10), B: dt.datetime(2026, 3, 3, 8),
                      C: dt.datetime(2026, 3, 3, 12)}
    assert by_id[A].title == "Alpha paper"
    if fmt == "atom":
        assert by_id[A].published.endswith("+00:00")
        assert [a.name for a in by_id[A].authors] == ["Ada Lovelace", "Alan Turing"]
        assert [a.name for a in by_id[B].authors] == [f"Author {n}" for n in range(10)] + [
            "and 3 more"]
        related = [lk.href for lk in by_id[A].links if lk.rel == "related"]
        assert related == ["https://github.com/acme/alpha"]
    else:
        assert by_id[A].author == "Ada Lovelace, Alan Turing"  # one dc:creator, as arXiv's
    # TeX as the pages show it: \% and \textbf converted, math kept between dollars.
    assert by_id[A].summary.startswith(
        "Accuracy rose to 69.4% with $x^2$ terms and bold claims.")
    assert by_id[A].summary.endswith("Code: https://github.com/acme/alpha")
    # B's code link is javascript: no link, no mention.
    assert not [lk for lk in by_id[B].links if lk.rel == "related"]
    assert "javascript" not in site.get(f"/feeds/day/2026-03-03.{fmt}").text
    assert first.feed.link == f"{BASE}/papers/date/2026-03-03"


def published(parsed: feedparser.FeedParserDict) -> dict[str, dt.datetime]:
    return {e.id.rsplit("/", 1)[1]: dt.datetime(*e.published_parsed[:6]) for e in parsed.entries}


@pytest.mark.parametrize("fmt", FORMATS)
def test_search_and_category_items_are_dated_by_feature_else_arxiv(site, fmt):  # type: ignore[no-untyped-def]
    assert published(read(site, f"/feeds/category/cs.LG.{fmt}")) == {
        W: dt.datetime(2026, 3, 1), Y: dt.datetime(2026, 2, 10, 17), X: dt.datetime(2026, 1, 5)}
    found = published(read(site, f"/feeds/search.{fmt}?q=paper"))
    # A was featured twice: its latest feature's time.
    assert found[A] == dt.datetime(2026, 3, 3, 10) and found[D] == dt.datetime(2026, 3, 2)


def test_any_list_of_papers_is_a_feed_in_its_own_order(site, engine):  # type: ignore[no-untyped-def]
    """The hook a collection's feed uses: its papers, its order, its dates."""
    from dailypapers.catalog import papers_by_ids
    from dailypapers.web.routes_feeds import papers_feed

    added = dt.datetime(2026, 3, 9, 7, 30, tzinfo=dt.timezone.utc)

    def listed(request: Request, conn: ConnDep):  # type: ignore[no-untyped-def]
        rows = papers_by_ids(conn, [C, X, A])
        return papers_feed(request, conn, [rows[C], rows[X], rows[A]], title="My list",
                           page_path="/lists/1", dated={C: added})

    for fmt in FORMATS:
        site.app.add_api_route(f"/feeds/list.{fmt}", listed, methods=["GET"])
    for fmt in FORMATS:
        parsed = read(site, f"/feeds/list.{fmt}")
        assert ids(parsed) == [C, X, A] and parsed.feed.title == "Daily Papers: My list"
        assert published(parsed) == {C: dt.datetime(2026, 3, 9, 7, 30),
                                     X: dt.datetime(2026, 1, 5), A: dt.datetime(2026, 3, 3, 10)}
        assert parsed.feed.link == f"{BASE}/lists/1"


def test_a_feed_of_more_than_100_papers_keeps_the_best_100(site, engine):  # type: ignore[no-untyped-def]
    day = dt.date(2026, 4, 1)
    pids = [f"2604.{n:05d}" for n in range(105)]
    insert(engine, [paper(p, title=f"Paper {n}", upvotes=105 - n) for n, p in enumerate(pids)],
           [feature(p, day, float(n), None) for n, p in enumerate(pids)])  # score grows with n
    assert ids(read(site, "/feeds/day/2026-04-01.atom")) == pids[::-1][:100]


def test_conditional_get_answers_304(site, engine):  # type: ignore[no-untyped-def]
    for path in ("/feeds/day/2026-03-03.atom", "/feeds/trending.rss", "/feeds/search.atom?q=graph",
                 "/feeds/category/cs.LG.rss", "/feeds/day/2026-03-10.atom"):
        first = site.get(path)
        etag, modified = first.headers["etag"], first.headers["last-modified"]
        assert etag.startswith('"') and first.headers["cache-control"] == "public, max-age=600"
        assert site.get(path).headers["etag"] == etag  # the same bytes each time
        for headers in ({"If-None-Match": etag}, {"If-None-Match": f'"x", W/{etag}'},
                        {"If-None-Match": "*"}, {"If-Modified-Since": modified}):
            again = site.get(path, headers=headers)
            assert (again.status_code, again.content) == (304, b""), (path, headers)
            assert again.headers["etag"] == etag
        earlier = email.utils.format_datetime(
            email.utils.parsedate_to_datetime(modified) - dt.timedelta(seconds=1), usegmt=True)
        for headers in ({"If-None-Match": '"other"'}, {"If-Modified-Since": earlier},
                        {"If-Modified-Since": "yesterday"},
                        # If-None-Match decides when both are sent (RFC 9110)
                        {"If-None-Match": '"other"', "If-Modified-Since": modified}):
            assert site.get(path, headers=headers).status_code == 200, (path, headers)
    # A change in the list (a new score reorders the day) is a new ETag, and a new document.
    old = site.get("/feeds/day/2026-03-03.atom").headers["etag"]
    with write_transaction(engine) as conn:
        conn.execute(feature_days.update().where(feature_days.c.paper_id == A,
                                                 feature_days.c.day == D2)
                     .values(trending_score=10.0))
    changed = site.get("/feeds/day/2026-03-03.atom", headers={"If-None-Match": old})
    assert changed.status_code == 200 and changed.headers["etag"] != old
    assert ids(feedparser.parse(changed.content)) == [A, B, C]


def test_last_modified_is_the_newest_change_among_the_items(site):  # type: ignore[no-untyped-def]
    modified = site.get("/feeds/day/2026-03-03.atom").headers["last-modified"]
    assert email.utils.parsedate_to_datetime(modified) == dt.datetime(
        2026, 3, 5, 8, 0, tzinfo=dt.timezone.utc)  # the rows' row_updated_at


BAD = [
    ("/feeds/day/2026-02-30.atom", "no such day"),
    ("/feeds/day/2026-3-02.rss", "expected YYYY-MM-DD"),
    ("/feeds/day/1899-12-31.atom", "only years"),
    ("/feeds/week/2026-W54.atom", "no such ISO week"),
    ("/feeds/week/2026-10.rss", "expected YYYY-Www"),
    ("/feeds/category/CS.atom", "invalid category"),
    ("/feeds/category/cs..CL.atom", "invalid category"),
    ("/feeds/category/cs.CL%3Bdrop.rss", "invalid category"),
    ("/feeds/category/" + "a" * 40 + ".atom", "invalid category"),
    ("/feeds/search.atom?q=foo:bar", "unknown filter"),
    ("/feeds/search.rss?q=cat:%21%21", "not an arXiv category"),
    ("/feeds/search.atom?q=x&date_from=2026-13-01", "date_from"),
    ("/feeds/search.atom?q=x&date_from=2026-03-02&date_to=2026-03-01", "after date_to"),
    ("/feeds/search.atom?q=x&has_code=maybe", "has_code"),
]


@pytest.mark.parametrize(("path", "message"), BAD)
def test_bad_input_is_a_400_with_a_json_message(site, path, message):  # type: ignore[no-untyped-def]
    answer = site.get(path)
    assert answer.status_code == 400 and answer.headers["content-type"] == "application/json"
    assert message in answer.json()["error"]


@pytest.mark.parametrize(("page", "first"), [
    ("/papers", "/feeds/day/2026-03-03.atom"),
    ("/papers/date/2026-03-02?sort=upvotes", "/feeds/day/2026-03-02.atom"),
    ("/papers/week/2026-W10", "/feeds/week/2026-W10.atom"),
    ("/papers/trending", "/feeds/trending.atom"),
    ("/search?q=graph&mode=keyword&page=1", "/feeds/search.atom?q=graph"),
    ("/search?q=graph&category=cs.LG&mode=keyword", "/feeds/search.atom?q=graph&category=cs.LG"),
])
def test_pages_announce_their_feed_first(site, page, first):  # type: ignore[no-untyped-def]
    doc = lxml.html.fromstring(site.get(page).text)
    found = doc.xpath("//head/link[@rel='alternate']")
    assert found and found[0].get("href") == first and \
        found[0].get("type") == "application/atom+xml", page
    assert [f.get("type") for f in found[:2]] == ["application/atom+xml", "application/rss+xml"]
    for link in found:  # every announced feed answers, and lists what the page lists
        read(site, link.get("href"))
    if page == "/papers":
        assert [f.get("href") for f in found] == [
            "/feeds/day/2026-03-03.atom", "/feeds/day/2026-03-03.rss", "/feeds/latest.atom",
            "/feeds/latest.rss"]
    assert doc.xpath("//footer//a[@href='/feeds']")


def test_no_feed_announced_for_a_refused_search_or_a_month(site):  # type: ignore[no-untyped-def]
    for page in ("/search?q=foo:bar", "/papers/month/2026-03", "/search"):
        doc = lxml.html.fromstring(site.get(page).text)
        assert not doc.xpath("//head/link[@rel='alternate']"), page


def test_the_feeds_page_lists_them_and_says_what_categories_know(site):  # type: ignore[no-untyped-def]
    doc = lxml.html.fromstring(site.get("/feeds").text)
    hrefs = {a.get("href") for a in doc.cssselect("main a")}
    assert {"/feeds/latest.atom", "/feeds/day/2026-03-03.atom", "/feeds/week/2026-W10.atom",
            "/feeds/trending.atom", "/feeds/trending.rss", "/feeds/category/cs.CL.atom"} <= hrefs
    assert "Hugging Face's daily lists carry no arXiv categories" in doc.text_content()
    for href in hrefs:
        if href.startswith("/feeds/"):
            read(site, href)


# --- untrusted text --------------------------------------------------------------------------

HOSTILE_TITLE = "Bad \x01\x0b\x1f\ufffe title ]]> <![CDATA[ x ]]> " + SCRIPT + " &amp; \"q\""
CLEAN_TITLE = "Bad title ]]> <![CDATA[ x ]]> " + SCRIPT + " &amp; \"q\""


@pytest.mark.parametrize("fmt", FORMATS)
def test_hostile_text_makes_well_formed_feeds(engine, site, fmt):  # type: ignore[no-untyped-def]
    pid = "2603.09999"
    nul = "\x00" if engine.dialect.name == "sqlite" else ""  # PostgreSQL's text refuses NUL
    insert(engine, [paper(pid, title=nul + HOSTILE_TITLE, abstract=HOSTILE_TITLE + nul + " \x08end",
                          authors=["Eve \x07" + SCRIPT], repo="data:text/html,<script>",
                          categories=["cs.LG"], submitted="2026-03-04", source="arxiv",
                          now=dt.datetime.now(dt.timezone.utc))],  # after the index's watermark
           [feature(pid, dt.date(2026, 3, 4), 1.0, "not a time")])
    site.app.state.search.keyword.update(engine)
    for path in (f"/feeds/day/2026-03-04.{fmt}", f"/feeds/search.{fmt}?q=title",
                 f"/feeds/category/cs.LG.{fmt}", f"/feeds/latest.{fmt}"):
        answer = site.get(path)
        tree = lxml.etree.fromstring(answer.content)  # raises if not well-formed
        assert "\x01" not in answer.text and "\x00" not in answer.text
        parsed = read(site, path)
        assert f"{BASE}/papers/{pid}" in [e.id for e in parsed.entries], (path, answer.text)
        entry = next(e for e in parsed.entries if e.id == f"{BASE}/papers/{pid}")
        if fmt == "atom":  # text constructs: the text exactly, nothing interpreted
            titles = tree.xpath("//a:entry[a:id=$id]/a:title/text()", id=f"{BASE}/papers/{pid}",
                                namespaces={"a": "http://www.w3.org/2005/Atom"})
            assert titles == [CLEAN_TITLE]
            assert entry.summary == CLEAN_TITLE + " end"
            assert [a.name for a in entry.authors] == ["Eve " + SCRIPT]
        else:  # RSS descriptions are read as HTML: escaped, so a reader shows the text
            description = tree.xpath("//item[guid=$id]/description/text()",
                                     id=f"{BASE}/papers/{pid}")[0]
            assert "<script>" not in description and "&lt;script&gt;" in description
        hrefs = tree.xpath("//@href") + tree.xpath("//*[local-name()='link']/text()")
        assert all(h.startswith(("https://", "http://")) for h in hrefs), hrefs
        assert "data:text" not in answer.text
        # A feature time that cannot be read: midnight UTC of the day.
        assert dt.datetime(*entry.published_parsed[:6]) in (dt.datetime(2026, 3, 4),)


@given(text=st.text(max_size=30))
@hsettings(max_examples=40, deadline=None, derandomize=True, database=None,
           suppress_health_check=list(HealthCheck))
def _never_500(site, text: str) -> None:  # type: ignore[no-untyped-def]
    from urllib.parse import quote

    segment = quote(text, safe="")
    for path in (f"/feeds/day/{segment}.atom", f"/feeds/week/{segment}.rss",
                 f"/feeds/category/{segment}.atom", f"/feeds/search.atom?q={segment}",
                 f"/feeds/search.rss?q=x&date_to={segment}"):
        answer = site.get(path)
        assert answer.status_code in (200, 400, 404), (path, answer.status_code)
        if answer.status_code == 200:
            assert feedparser.parse(answer.content).bozo == 0


def test_any_text_in_any_parameter_is_never_a_500(site):  # type: ignore[no-untyped-def]
    _never_500(site)
