"""What a reader meets on the listing and paper pages: paging that keeps the sort, the trending
list across recent days, the day picker, links onward from a paper, and page metadata."""

from __future__ import annotations

import datetime as dt
from urllib.parse import parse_qs, urlsplit

import lxml.html
import pytest

from dailypapers.ingest.files import import_paths
from dailypapers.web.filters import linkify, sources_label
from dailypapers.web.mathtext import math_markup
from tests.helpers import hf_item, write_json


def _doc(response):
    assert response.status_code == 200, response.text[:300]
    return lxml.html.fromstring(response.text)


def _ids(doc) -> list[str]:
    return [card.get("data-paper-id") for card in doc.cssselect("article.card")]


def _upvotes(doc) -> list[int]:
    return [int(c.cssselect(".vote-box .count")[0].text) for c in doc.cssselect("article.card")]


@pytest.fixture
def busy_week(engine, tmp_path):
    """35 papers over two days of ISO week 2026-W10, upvotes all different, and 9 single-paper
    days before them (for the trending window)."""
    files = []
    monday = [hf_item(f"2603.{i:05d}", title=f"Monday {i}", upvotes=(i * 7) % 41, day="2026-03-02")
              for i in range(20)]
    tuesday = [hf_item(f"2603.{i:05d}", title=f"Tuesday {i}", upvotes=(i * 11) % 43 + 50,
                       day="2026-03-03") for i in range(20, 35)]
    for i, item in enumerate(tuesday):
        item["submittedBy"]["name"] = "rosalind" if i % 3 == 0 else "grace"
    files.append(write_json(tmp_path / "2026-03-02.json", monday))
    files.append(write_json(tmp_path / "2026-03-03.json", tuesday))
    for n in range(9):
        day = (dt.date(2026, 2, 1) + dt.timedelta(days=n)).isoformat()
        files.append(write_json(tmp_path / f"{day}.json",
                                [hf_item(f"2602.{n:05d}", title=f"Old {n}", upvotes=500, day=day)]))
    import_paths(engine, files)


def test_week_shows_the_top_30_then_pages_keeping_the_sort(client, busy_week):
    first = _doc(client.get("/papers/week/2026-W10?sort=upvotes"))
    second = _doc(client.get("/papers/week/2026-W10?sort=upvotes&page=2"))
    assert len(_ids(first)) == 30 and len(_ids(second)) == 5
    assert not set(_ids(first)) & set(_ids(second))
    votes = _upvotes(first) + _upvotes(second)
    assert votes == sorted(votes, reverse=True)  # page 2 continues page 1's order
    assert "35 papers" in first.cssselect("h2.count")[0].text_content()
    nxt = first.cssselect("nav.pager a[rel=next]")[0].get("href")
    assert parse_qs(urlsplit(nxt).query) == {"sort": ["upvotes"], "page": ["2"]}
    prev = second.cssselect("nav.pager a[rel=prev]")[0].get("href")
    assert parse_qs(urlsplit(prev).query) == {"sort": ["upvotes"]}
    # A day is one page (20 papers here), whatever its size.
    assert len(_ids(_doc(client.get("/papers/date/2026-03-02")))) == 20


@pytest.mark.parametrize("page, status", [("0", 400), ("x", 400), ("٢", 400), ("3", 404)])
def test_bad_pages_are_error_pages(client, busy_week, page, status):
    response = client.get(f"/papers/week/2026-W10?page={page}")
    assert response.status_code == status
    assert "text/html" in response.headers["content-type"]


def test_every_navigation_link_keeps_the_sort(client, busy_week):
    doc = _doc(client.get("/papers/date/2026-03-03?sort=newest"))
    nav = {a.text_content().strip(): a.get("href") for a in doc.cssselect(".period-nav a")}
    assert nav["Day"] == "/papers/date/2026-03-03?sort=newest"
    assert nav["Week"] == "/papers/week/2026-W10?sort=newest"
    assert nav["Month"] == "/papers/month/2026-03?sort=newest"
    assert nav["← Previous"] == "/papers/date/2026-03-02?sort=newest"
    assert doc.cssselect('.views a[aria-current="page"]')[0].text == "Day"
    active_sort = doc.cssselect('.sort-nav a[aria-current="true"]')
    assert [a.text for a in active_sort] == ["Newest"]
    # The next day does not exist: a visible, disabled "Next" that is not a link.
    assert doc.cssselect("span.next.disabled") and not doc.cssselect("a.next")


def test_trending_ranks_the_last_seven_featured_days(client, busy_week):
    doc = _doc(client.get("/papers/trending"))
    # The seven most recent featured days: 2026-03-03, 03-02 and 02-05 … 02-09.
    old_in = {f"2602.{n:05d}" for n in range(4, 9)}
    both = _ids(doc) + _ids(_doc(client.get("/papers/trending?page=2")))
    assert set(both) == old_in | {f"2603.{i:05d}" for i in range(35)}
    # The stored score, log10(points) + featured_hours / 48: equal upvotes, the more recently
    # featured ranks first; 500 upvotes three weeks older (log10 500 = 2.70, 504 h / 48 = 10.5
    # behind) rank after every paper of March, whatever its upvotes.
    old_order = [i for i in both if i.startswith("2602.")]
    assert old_order == [f"2602.{n:05d}" for n in (8, 7, 6, 5, 4)]
    assert both[-5:] == old_order
    assert doc.cssselect('.site-nav a[aria-current="page"]')[0].get("href") == "/papers/trending"
    assert "Trending papers" in doc.cssselect("h1")[0].text_content()


def test_the_day_picker_redirects_to_the_day(client):
    response = client.get("/papers/date?d=2026-03-03", follow_redirects=False)
    assert response.status_code == 302
    assert response.headers["location"] == "/papers/date/2026-03-03"
    assert client.get("/papers/date?d=2026-13-40", follow_redirects=False).status_code == 400
    assert client.get("/papers/date", follow_redirects=False).status_code == 400
    # The picker keeps the list's sort and submitter filter; an unknown sort is a 400.
    kept = client.get("/papers/date?d=2026-03-03&sort=upvotes&submitter=ro+sa",
                      follow_redirects=False)
    assert kept.headers["location"] == "/papers/date/2026-03-03?sort=upvotes&submitter=ro+sa"
    assert client.get("/papers/date?d=2026-03-03&sort=nope").status_code == 400


def test_the_day_picker_form_carries_the_sort(client, busy_week):
    form = _doc(client.get("/papers/date/2026-03-03?sort=newest")).cssselect("form.day-picker")[0]
    assert dict(form.form_values()) == {"d": "2026-03-03", "sort": "newest"}
    plain = _doc(client.get("/papers/date/2026-03-03")).cssselect("form.day-picker")[0]
    assert dict(plain.form_values()) == {"d": "2026-03-03"}


def test_submitter_link_filters_the_month(client, busy_week):
    day = _doc(client.get("/papers/date/2026-03-03"))
    link = [a for a in day.cssselect("a.submitter-link") if a.text == "rosalind"][0]
    assert link.get("href") == "/papers/month/2026-03?submitter=rosalind"
    month = _doc(client.get(link.get("href")))
    assert sorted(_ids(month)) == [f"2603.{i:05d}" for i in range(20, 35) if (i - 20) % 3 == 0]
    assert "rosalind" in month.cssselect(".filter-note")[0].text_content()


def test_titles_descriptions_and_the_latest_label(client, busy_week, engine, tmp_path):
    doc = _doc(client.get("/papers"))
    assert doc.findtext(".//title") == "Tuesday, March 3, 2026 · Daily Papers"
    assert doc.cssselect(".site-nav a")[0].text == "Latest"  # the latest day is not today
    for path in ("/papers", "/papers/week/2026-W10", "/papers/trending", "/papers/2603.00001",
                 "/search?q=monday"):
        page = _doc(client.get(path))
        assert page.findtext(".//title").count("Daily Papers") == 1, path
        assert len(page.cssselect('meta[name="description"]')[0].get("content")) > 20, path
        for link in page.cssselect('link[rel="canonical"]'):
            assert link.get("href").startswith(("http://", "https://")), path
        # The first link skips the header's to the page's own content.
        assert page.cssselect("body a")[0].get("href") == "#main", path
        assert page.get_element_by_id("main").tag == "main", path
    today = dt.datetime.now(dt.timezone.utc).date().isoformat()
    import_paths(engine, [write_json(tmp_path / f"{today}.json",
                                     [hf_item("2611.00001", title="Fresh", day=today)])])
    assert _doc(client.get("/papers")).cssselect(".site-nav a")[0].text == "Today"


def test_header_sign_in_comes_back_to_the_page(client, busy_week):
    def links(path):  # type: ignore[no-untyped-def]
        doc = _doc(client.get(path))
        return [doc.xpath(f"//header//a[text()='{name}']/@href")[0]
                for name in ("Sign in", "Sign up")]

    assert links("/papers/2603.00001") == ["/login?next=/papers/2603.00001",
                                           "/signup?next=/papers/2603.00001"]
    assert links("/search?q=monday+x") == ["/login?next=/search%3Fq%3Dmonday%2Bx",
                                          "/signup?next=/search%3Fq%3Dmonday%2Bx"]
    assert links("/papers") == ["/login", "/signup"]  # where signing in lands anyway
    assert links("/login")[1] == "/signup"


def test_error_pages_do_not_claim_data_was_never_updated(client):
    response = client.get("/papers/2603.99999")
    assert response.status_code == 404
    doc = lxml.html.fromstring(response.text)
    assert "never" not in doc.cssselect("footer")[0].text_content()
    assert doc.cssselect('meta[name="description"]')[0].get("content").startswith("Not found")


def test_a_paper_page_leads_onward(client, engine, tmp_path):
    item = hf_item("2603.00077", title="Linked", ai_keywords=["diffusion models", 'say "hi"'],
                   organization={"name": "acme", "fullname": "Acme Research"})
    item["paper"]["summary"] = ("Code: https://github.com/acme/x. Math $a_1$ and "
                                "javascript:alert(1) and <b>https://evil.example/\"x</b>.")
    import_paths(engine, [write_json(tmp_path / "2026-03-02.json", [item])])
    doc = _doc(client.get("/papers/2603.00077"))
    authors = [a.get("href") for a in doc.cssselect(".author-list a")]
    assert authors == ["/search?q=author%3A%22Ada%20Lovelace%22",
                       "/search?q=author%3A%22Alan%20Turing%22"]
    chips = [a.get("href") for a in doc.cssselect(".keywords a")]
    assert chips == ["/search?q=%22diffusion%20models%22", "/search?q=%22say%20hi%22"]
    links = doc.cssselect("section.abstract a")
    assert [(a.get("href"), a.get("rel")) for a in links] == [
        ("https://github.com/acme/x", "nofollow noopener"),
        ("https://evil.example/", "nofollow noopener")]
    abstract = doc.cssselect("section.abstract p")[0]
    assert abstract.cssselect("span.math")[0].text == "a_1"
    assert "javascript:alert(1)" in abstract.text_content() and not abstract.cssselect("b")
    sources = [dd for dt_, dd in zip(doc.cssselect(".details dt"), doc.cssselect(".details dd"))
               if dt_.text == "Sources"][0]
    assert sources.text == "Hugging Face daily papers"
    assert doc.cssselect("section#similar")  # every card's "Similar" link lands here
    assert "Acme Research" in doc.cssselect(".paper-kicker .org")[0].text
    assert doc.cssselect(".vote-box")[0].text_content().split() == ["3", "upvotes"]
    day = _doc(client.get("/papers/date/2026-03-02"))
    card = day.cssselect("article.card")[0]
    assert card.cssselect("a.similar-link")[0].get("href") == "/papers/2603.00077#similar"
    assert card.cssselect(".org")[0].text == "Acme Research"


def test_linkify_composes_with_math_and_escapes_everything_else():
    html = str(linkify(math_markup("see https://a.org/x_(y), $f(x)$ & https://b.org/?a=1&b=2.")))
    assert html == (
        'see <a class="text-link" href="https://a.org/x_(y)" rel="nofollow noopener">'
        'https://a.org/x_(y)</a>, <span class="math" data-display="0">f(x)</span> &amp; '
        '<a class="text-link" href="https://b.org/?a=1&amp;b=2" rel="nofollow noopener">'
        'https://b.org/?a=1&amp;b=2</a>.')
    # Plain text is escaped first; a URL inside math stays math; other schemes stay text.
    assert str(linkify("<i>ftp://x.org</i>")) == "&lt;i&gt;ftp://x.org&lt;/i&gt;"
    assert "<a" not in str(linkify(math_markup("$https://x.org$")))
    assert sources_label("arxiv-atom,hf") == "arXiv API · Hugging Face daily papers"


def test_only_pages_with_math_ask_for_katex_up_front(client, engine, tmp_path):
    plain = hf_item("2603.00090", title="Plain words", day="2026-03-02")
    plain["paper"]["summary"] = "It costs $10 and $20; no formula here."
    maths = hf_item("2603.00091", title="Bounds on $\\ell_2$", day="2026-03-03")
    import_paths(engine, [write_json(tmp_path / "2026-03-02.json", [plain]),
                          write_json(tmp_path / "2026-03-03.json", [maths])])

    def katex_css(path: str) -> int:
        return len(_doc(client.get(path)).cssselect('head link[href*="katex.min.css"]'))

    assert katex_css("/papers/2603.00091") == 1 and katex_css("/papers/date/2026-03-03") == 1
    assert katex_css("/papers/2603.00090") == 0 and katex_css("/papers/date/2026-03-02") == 0
    # math.js still knows where KaTeX is, for math the server did not foresee.
    script = _doc(client.get("/papers/2603.00090")).cssselect("script[data-katex-js]")[0]
    assert script.get("data-katex-js").startswith("/static/vendor/katex/katex.min.js?v=")
