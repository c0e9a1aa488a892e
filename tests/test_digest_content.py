"""Digest content (issue 9 item 3): what each reader's mail holds, and how it is rendered.

The fixture catalogue (week 2026-W10, Monday March 2 to Sunday March 8) is built so that wrong
answers differ from right ones: stored trending scores order the featured papers unlike their
upvotes; papers featured or submitted on the Sunday before and the Monday after the week must
stay out; a Hugging Face paper (no categories) must never match a category.
"""

from __future__ import annotations

import datetime as dt
import math
from email import message_from_bytes, policy
from html.parser import HTMLParser
from pathlib import Path

import pytest
import sqlalchemy as sa

from dailypapers import catalog
from dailypapers.db.engine import read_transaction, write_transaction
from dailypapers.db.schema import feature_days
from dailypapers.index.search import SearchService
from dailypapers.ingest.records import SOURCE_KAGGLE, SOURCE_OAI, Author, PaperRecord, ParsedItem
from dailypapers.notify import digest_content as dc
from dailypapers.notify.digest_content import (
    BadTopic, DigestItem, DigestSpec, PeriodResults, Topic, build_digest, evaluate_period,
    evaluate_topics, is_empty, source_cap,
)
from dailypapers.notify.digest_render import (
    HeaderInjection, build_email, header_line, mail_bytes, new_boundary, render_digest,
)
from tests.helpers import hf_item, parse_hf_file, store, write_json
from tests.xss_vectors import XSS_VECTORS

BASE = "https://papers.example.org"
WEEK = catalog.parse_week("2026-W10")
CL, LG = Topic("category", "cs.CL"), Topic("category", "cs.LG")
LORA = Topic("search", "lora merging")

# Featured (Hugging Face) papers: id -> (day, upvotes, stored trending score).
FEATURED = {
    "2603.00001": ("2026-03-02", 50, 1.0),   # most upvoted, lowest score; arXiv says cs.CL
    "2603.00002": ("2026-03-03", 5, 9.0),    # fewest upvotes, best score; HF only
    "2603.00003": ("2026-03-04", 20, 5.0),   # "LoRA merging" in its title; arXiv: cs.CL
    "2603.00009": ("2026-03-09", 100, 100.0),  # the Monday after the week
    "2602.00099": ("2026-03-01", 90, 90.0),    # the Sunday before
}
TITLES = {
    "2603.00001": "Parsing sentences with transformers",
    "2603.00002": "Vision models see",
    "2603.00003": "LoRA merging at scale",
    "2603.00009": "LoRA merging next week",
    "2602.00099": "LoRA merging last week",
}


def arxiv(pid: str, title: str, categories: list[str], submitted: str,
          source: str = SOURCE_OAI) -> ParsedItem:
    return ParsedItem(PaperRecord(
        arxiv_id=pid, source=source, title=title, abstract=f"Abstract of {title}.",
        authors=[Author(name=n) for n in ("Ann Lee", "Bo Chen", "Cy Dee", "Di Eve")],
        categories=categories, primary_category=categories[0], submitted_at=submitted))


ARXIV = [
    arxiv("2603.00001", TITLES["2603.00001"], ["cs.CL"], "2026-02-20T10:00:00Z"),
    arxiv("2603.00003", TITLES["2603.00003"], ["cs.CL"], "2026-01-05T10:00:00Z"),
    arxiv("2603.10001", "LoRA merging of adapters", ["cs.CL", "cs.LG"], "2026-03-03T10:00:00Z"),
    # The Kaggle snapshot's stamp shape (RFC 2822), submitted on the Wednesday.
    arxiv("2603.10002", "Parsing Wednesday", ["cs.CL"], "Wed, 4 Mar 2026 10:00:00 GMT",
          source=SOURCE_KAGGLE),
    arxiv("2603.10003", "LoRA merging on Monday", ["cs.CL"], "2026-03-09T01:00:00Z"),
    arxiv("2603.10004", "Scaling lora ranks", ["cs.LG"], "2026-03-05T10:00:00Z"),
    arxiv("2603.10005", "Parsing on Sunday", ["cs.CL"], "2026-03-01T23:00:00Z"),
    arxiv("2501.00001", "LoRA merging revisited", ["cs.CL"], "2025-01-10T10:00:00Z"),
]


@pytest.fixture
def catalogue(engine, tmp_path: Path):
    items = [hf_item(pid, title=TITLES[pid], upvotes=up, day=day)
             for pid, (day, up, _score) in FEATURED.items()]
    parsed, refused = parse_hf_file(write_json(tmp_path / "daily.json", items))
    assert not refused
    store(engine, ARXIV)
    store(engine, parsed)
    # 2603.00001 featured again on Friday, with a worse score: listed once, at its better one.
    again, _ = parse_hf_file(write_json(tmp_path / "friday.json", [
        hf_item("2603.00001", title=TITLES["2603.00001"], upvotes=50, day="2026-03-06")]))
    store(engine, again)
    with write_transaction(engine) as conn:
        for pid, (_day, _up, score) in FEATURED.items():
            conn.execute(feature_days.update().where(feature_days.c.paper_id == pid)
                         .values(trending_score=score))
        conn.execute(feature_days.update().where(feature_days.c.day == dt.date(2026, 3, 6))
                     .values(trending_score=0.5))
    return engine


class CountingSearch(SearchService):
    """The real service (keyword index on disk), counting the searches it is asked for."""

    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.queries: list[str] = []

    def search(self, query, **kwargs):  # type: ignore[no-untyped-def,override]
        self.queries.append(query)
        return super().search(query, **kwargs)


@pytest.fixture
def search(catalogue, tmp_path: Path) -> CountingSearch:
    service = CountingSearch(catalogue, tmp_path / "data")
    service.keyword.update(catalogue)
    return service


def period_results(engine, period, topics, search):  # type: ignore[no-untyped-def]
    with read_transaction(engine) as conn:
        return evaluate_period(conn, period, topics, search)


# --- evaluating a period --------------------------------------------------------------------

def test_trending_follows_the_stored_score_not_upvotes_and_keeps_to_the_week(catalogue, search):
    results = period_results(catalogue, WEEK, set(), search)
    assert results.trending == ["2603.00002", "2603.00003", "2603.00001"]
    upvote_order = sorted(results.trending, key=lambda p: -FEATURED[p][1])
    assert upvote_order != results.trending  # the data tells the two orders apart


def test_daily_period_is_one_feature_day(catalogue, search):
    monday = period_results(catalogue, dc.period_for("daily", dt.date(2026, 3, 2)), {CL}, search)
    assert monday.trending == ["2603.00001"]
    assert monday.topics[CL] == ["2603.00001"]  # featured that day; nothing cs.CL submitted
    tuesday = period_results(catalogue, dc.period_for("daily", dt.date(2026, 3, 3)), {CL}, search)
    assert tuesday.trending == ["2603.00002"]
    assert tuesday.topics[CL] == ["2603.10001"]  # submitted on Tuesday; 2603.00002 is HF-only
    wednesday = period_results(catalogue, dc.period_for("daily", dt.date(2026, 3, 4)), {CL},
                               search)
    assert wednesday.topics[CL] == ["2603.00003", "2603.10002"]  # featured; submitted (RFC stamp)
    assert dc.period_for("weekly", dt.date(2026, 3, 8)) == WEEK


def test_category_matches_arxiv_described_papers_featured_or_submitted_in_the_week(
        catalogue, search):
    results = period_results(catalogue, WEEK, {CL, LG}, search)
    # Featured first (by stored score), then submitted-only newest first; the Kaggle stamp read;
    # Sunday before and Monday after left out; the HF-only papers (no categories) never match.
    assert results.topics[CL] == ["2603.00003", "2603.00001", "2603.10002", "2603.10001"]
    assert results.topics[LG] == ["2603.10004", "2603.10001"]
    archive = period_results(catalogue, WEEK, {Topic("category", "cs")}, search)
    assert set(archive.topics[Topic("category", "cs")]) == {
        "2603.00001", "2603.00003", "2603.10001", "2603.10002", "2603.10004"}


def test_search_topic_only_finds_papers_of_the_period(catalogue, search):
    results = period_results(catalogue, WEEK, {LORA}, search)
    found = results.topics[LORA]
    assert set(found) == {"2603.00003", "2603.10001", "2603.10004"}
    assert found[-1] == "2603.10004"  # "lora" alone ranks below both words
    author = Topic("search", 'author:"Ann Lee" lora')
    assert set(period_results(catalogue, WEEK, {author}, search).topics[author]) == {
        "2603.00003", "2603.10001", "2603.10004"}  # arXiv records name Ann Lee; HF ones do not


def test_search_ranks_within_the_period_not_the_whole_catalogue(catalogue, search, monkeypatch):
    # Four papers outside the week match both words as well as those inside: a search of the
    # whole catalogue cut to two candidates would keep none of the week's.
    monkeypatch.setattr(dc, "TOPIC_CANDIDATES", 2)
    found = period_results(catalogue, WEEK, {LORA}, search).topics[LORA]
    assert len(found) == 2 and set(found) <= {"2603.00003", "2603.10001"}


def test_each_distinct_topic_is_evaluated_once_however_many_subscribers(catalogue, search):
    searches = ["lora merging", "  lora   merging ", "parsing", 'author:"Ann Lee"']
    specs = [DigestSpec(trending=n % 2 == 0, max_items=5,
                        topics=(Topic("search", searches[n % 4]),
                                Topic("category", ["cs.CL", "cs.cl", "cs.LG"][n % 3])))
             for n in range(60)]
    topics = dc.topics_of(specs)
    assert len(topics) == 5  # 3 searches (whitespace folded), 2 categories (case folded)
    statements: list[str] = []
    sa.event.listen(catalogue, "before_cursor_execute",
                    lambda *args: statements.append(args[2]))
    results = period_results(catalogue, WEEK, topics, search)
    assert sorted(search.queries) == sorted({" ".join(q.split()) for q in searches})
    few = len(statements)
    statements.clear()
    period_results(catalogue, WEEK, {CL}, search)
    assert len(statements) == few  # categories cost no query each: one candidate scan a period
    for spec in specs:  # every reader's digest is built from the shared results, no I/O
        assert not is_empty(build_digest(spec, results, set(), base_url=BASE))


def test_evaluate_topics_directly_without_a_search_service(catalogue):
    warnings: list[str] = []
    with read_transaction(catalogue) as conn:
        found = evaluate_topics(conn, WEEK, {CL, LORA}, None, warnings=warnings)
    assert found[CL][:2] == ["2603.00003", "2603.00001"] and found[LORA] == []
    assert warnings == ["your search 'lora merging': no search service, skipped"]


def test_topics_validate_with_the_search_syntax():
    with pytest.raises(BadTopic, match="unknown filter"):
        Topic("search", "auther:smith")
    with pytest.raises(BadTopic):
        Topic("search", "   ")
    with pytest.raises(BadTopic):
        Topic("category", "cs.CL; drop")
    with pytest.raises(BadTopic):
        Topic("tag", "x")
    assert Topic("category", "Q-BIO.nc").value == "q-bio.NC"
    assert Topic("category", "cond-mat.Stat-Mech").value == "cond-mat.stat-mech"
    assert Topic("search", 'author: "Yann LeCun"').value == 'author: "Yann LeCun"'
    with pytest.raises(ValueError):
        DigestSpec(trending=True, max_items=dc.MAX_ITEMS + 1)
    with pytest.raises(ValueError):
        DigestSpec(trending=False)


# --- one reader's digest (pure) -------------------------------------------------------------

def paper(pid: str, **extra):  # type: ignore[no-untyped-def]
    row = {"id": pid, "title": f"Paper {pid}", "abstract": "One. Two. Three.", "upvotes": 1,
           "local_upvotes": 0, "github_repo": None,
           "authors": [{"name": "Solo Author"}]}
    row.update(extra)
    return row


def synthetic(trending: list[str], topics: dict[Topic, list[str]]) -> PeriodResults:
    ids = set(trending) | {p for hits in topics.values() for p in hits}
    return PeriodResults(WEEK, trending, topics, {p: paper(p) for p in ids})


def test_reasons_and_first_source_wins_for_a_paper_found_twice():
    results = synthetic(["t1", "shared", "t3"], {CL: ["shared", "c2"], LORA: ["s1"]})
    spec = DigestSpec(trending=True, topics=(CL, LORA), max_items=10)
    items = build_digest(spec, results, set(), base_url=BASE)
    assert [(i.paper_id, i.reason) for i in items] == [
        ("t1", "#1 trending"), ("shared", "cat:cs.CL"), ("s1", "your search 'lora merging'"),
        ("t3", "#3 trending"), ("c2", "cat:cs.CL")]
    # Without trending, the category reaches it.
    only_topics = build_digest(DigestSpec(trending=False, topics=(LORA, CL), max_items=10),
                               results, set(), base_url=BASE)
    assert [(i.paper_id, i.reason) for i in only_topics] == [
        ("s1", "your search 'lora merging'"), ("shared", "cat:cs.CL"), ("c2", "cat:cs.CL")]


def test_previously_sent_papers_are_left_out_and_trending_ranks_stay_true():
    results = synthetic(["t1", "t2", "t3", "t4"], {})
    items = build_digest(DigestSpec(trending=True, max_items=3), results, {"t1", "t3"},
                         base_url=BASE)
    assert [(i.paper_id, i.reason) for i in items] == [("t2", "#2 trending"),
                                                       ("t4", "#4 trending")]
    assert is_empty(build_digest(DigestSpec(trending=True, max_items=3), results,
                                 {"t1", "t2", "t3", "t4"}, base_url=BASE))


@pytest.mark.parametrize("max_items", [7, 10])
def test_diversity_cap_is_exactly_half_rounded_up(max_items):
    assert source_cap(max_items) == math.ceil(max_items / 2)
    many = [f"c{n}" for n in range(30)]
    results = synthetic([], {CL: many, LG: ["g1"]})
    items = build_digest(DigestSpec(trending=False, topics=(CL, LG), max_items=max_items),
                         results, set(), base_url=BASE)
    from_cl = [i for i in items if i.reason == "cat:cs.CL"]
    assert len(from_cl) == math.ceil(max_items / 2)  # 4 of 7, 5 of 10: not 3, not 6
    assert len(items) == len(from_cl) + 1
    # The other source's only paper already went out last time: one source, no cap.
    alone = build_digest(DigestSpec(trending=False, topics=(CL, LG), max_items=max_items),
                         results, {"g1"}, base_url=BASE)
    assert len(alone) == max_items


def test_max_items_bounds_the_mail_and_sources_alternate():
    results = synthetic([f"t{n}" for n in range(20)], {CL: [f"c{n}" for n in range(20)]})
    items = build_digest(DigestSpec(trending=True, topics=(CL,), max_items=5), results, set(),
                         base_url=BASE)
    assert [i.paper_id for i in items] == ["t0", "c0", "t1", "c1", "t2"]
    trending_only = build_digest(DigestSpec(trending=True, max_items=12), results, set(),
                                 base_url=BASE)
    assert len(trending_only) == 12


def test_item_fields():
    row = paper("2401.00001", title=r"\textbf{Bold} idea with $x^2$", upvotes=7, local_upvotes=2,
                github_repo="https://github.com/a/b",
                authors=[{"name": n} for n in ("A One", "B Two", "C Three", "D Four")],
                abstract=("First sentence says a lot. Second \\emph{sentence} adds more. "
                          "Third is left out."))
    item = dc.digest_item(row, "#1 trending", BASE + "/")
    assert item.title == "Bold idea with $x^2$"
    assert item.authors == "A One, B Two, C Three et al."
    assert dc.author_line([{"name": "Eve\r\nBcc: x"}, {"name": "Hid", "hidden": True}]) == \
        "Eve Bcc: x"
    assert item.abstract == "First sentence says a lot. Second sentence adds more."
    assert item.upvotes == 9
    assert item.code_url == "https://github.com/a/b"
    assert item.paper_url == BASE + "/papers/2401.00001"
    assert dc.digest_item(paper("cs/0112017", github_repo="javascript:alert(1)"), "r",
                          BASE).code_url is None
    long = dc.short_abstract("word " * 200)
    assert len(long) <= dc.ABSTRACT_CHARS + 2 and long.endswith(" …")


# --- rendering ------------------------------------------------------------------------------

class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str, str | None]] = []

    def handle_starttag(self, tag, attrs):  # type: ignore[no-untyped-def]
        self.tags.append(tag)
        self.attrs.extend((tag, k, v) for k, v in attrs)


def render(items: list[DigestItem]) -> tuple[str, str, str]:
    return render_digest(items, period=WEEK, base_url=BASE,
                         unsubscribe_url=BASE + "/unsubscribe/tok123",
                         manage_url=BASE + "/subscriptions/manage/tok456", site_name="Daily Papers")


def test_html_escapes_hostile_fields_and_links_only_to_us_or_the_code():
    rows = [paper(f"2401.{n:05d}", title=v, abstract=v, authors=[{"name": v}],
                  github_repo="https://github.com/ok/repo" if n % 2 else v)
            for n, v in enumerate(XSS_VECTORS)]
    items = [dc.digest_item(r, "your search '<script>x</script>'", BASE) for r in rows]
    subject, text, html = render(items)
    parsed = _Links()
    parsed.feed(html)
    assert set(parsed.tags) <= {"html", "head", "meta", "title", "body", "div", "h1", "h2", "p",
                                "a", "hr"}
    for tag, name, value in parsed.attrs:
        assert not name.startswith("on") and name not in ("src", "srcset", "background")
        if name == "href":
            assert value.startswith(BASE + "/") or value == "https://github.com/ok/repo", value
    assert "<script" not in html.lower() and "&lt;script&gt;" in html
    assert sum(1 for t, n, _ in parsed.attrs if n == "href" and "github.com" in (_ or "")) == \
        len(XSS_VECTORS) // 2
    assert "\n" not in subject and subject.startswith("Daily Papers: ")
    # The text part: every link absolute; the hostile text as it was (it is not HTML).
    for item in items:
        assert f"Paper: {item.paper_url}" in text
    assert "Unsubscribe: " + BASE + "/unsubscribe/tok123" in text
    assert "Manage your subscription: " + BASE + "/subscriptions/manage/tok456" in text
    assert "<script>alert(1)</script>" in text


def test_render_refuses_empty_digests_and_links_outside_the_site():
    item = dc.digest_item(paper("2401.00001"), "#1 trending", BASE)
    with pytest.raises(ValueError, match="empty"):
        render([])
    with pytest.raises(ValueError, match="unsubscribe_url"):
        render_digest([item], period=WEEK, base_url=BASE, unsubscribe_url="https://evil.example/u",
                      manage_url=BASE + "/m", site_name="x")
    hostile = DigestItem(**{**item.__dict__, "code_url": "javascript:alert(1)"})
    with pytest.raises(ValueError, match="code_url"):
        render([hostile])
    with pytest.raises(ValueError, match="manage_url"):
        render_digest([item], period=WEEK, base_url=BASE, unsubscribe_url=BASE + "/u",
                      manage_url="/m", site_name="x")


def test_message_is_multipart_alternative_and_refuses_header_injection():
    subject, text, html = render([dc.digest_item(paper("2401.00001"), "#1 trending", BASE)])
    headers = {"List-Unsubscribe": f"<{BASE}/unsubscribe/tok123>",
               "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}
    message = build_email(sender="Daily Papers <digest@papers.example.org>",
                          to="reader@example.com", subject=subject, text=text, html=html,
                          headers=headers)
    again = message_from_bytes(message.as_bytes(), policy=policy.default)
    assert again.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in again.iter_parts()] == ["text/plain", "text/html"]
    assert again["Subject"] == subject and again["List-Unsubscribe"] == headers["List-Unsubscribe"]
    assert BASE + "/papers/2401.00001" in again.get_body(("plain",)).get_content()
    hostile = "x\r\nBcc: victim@example.com"
    for field in ("sender", "to", "subject"):
        args = {"sender": "a@b.example", "to": "c@d.example", "subject": "s", "text": text,
                "html": html}
        args[field] = hostile
        with pytest.raises(HeaderInjection):
            build_email(**args)
    for value in ("a\nb", "a\rb", "a\0b"):
        with pytest.raises(HeaderInjection):
            build_email(sender="a@b.example", to="c@d.example", subject="s", text=text,
                        html=html, headers={"List-Id": value})
    with pytest.raises(HeaderInjection):
        build_email(sender="a@b.example", to="c@d.example", subject="s", text=text, html=html,
                    headers={"X-A\r\nBcc": "v"})


def test_wire_bytes_say_what_the_email_package_says_in_7_bit_lines_of_78():
    """The sender's bytes (mail_bytes) against build_email: the same headers, parts and text
    once parsed, for text the wire finds hard: non-ASCII in the subject and bodies, a line of
    1,500 characters with no space, a line that is a lone dot, trailing spaces, '=' signs."""
    hard = paper("2401.00001", title="Ünïcode — “quotes” and = signs " + "x" * 1500,
                 abstract=".\nA line ending in spaces   \nThen more.")
    items = [dc.digest_item(hard, "your search 'lora merging'", BASE),
             dc.digest_item(paper("2401.00002"), "#1 trending", BASE)]
    subject, text, html = render(items)  # a week: its subject holds an en dash
    assert not subject.isascii()
    headers = {"Message-ID": "<abc.digest1@papers.example.org>",
               "Date": "Mon, 09 Mar 2026 07:00:00 +0000", "Auto-Submitted": "auto-generated",
               "List-Unsubscribe": f"<{BASE}/unsubscribe/{'t' * 35}>",  # a token's length
               "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
               "List-Id": '"Dâily Papers weekly digest" <weekly-digest.papers.example.org>'}
    fields = {"From": "Dâily Papers <digest@papers.example.org>", "To": "reader@example.com",
              "Subject": subject, **headers}
    raw = mail_bytes([header_line(k, v) for k, v in fields.items()], text, html, new_boundary())
    wire = message_from_bytes(raw, policy=policy.default)
    reference = build_email(sender=fields["From"], to=fields["To"], subject=subject, text=text,
                            html=html, headers=headers)
    # Both as a receiver reads them: from the wire, in CRLF lines (as smtplib sends the first).
    reference = message_from_bytes(reference.as_bytes(policy=reference.policy.clone(
        linesep="\r\n")), policy=policy.default)
    assert [(k, str(v).strip()) for k, v in wire.items()][:len(fields)] == \
        [(k, str(v).strip()) for k, v in reference.items()][:len(fields)]
    assert wire["Subject"] == subject and wire["From"] == fields["From"]
    assert wire.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in wire.iter_parts()] == ["text/plain", "text/html"]
    for kind in ("plain", "html"):
        assert wire.get_body((kind,)).get_content() == reference.get_body((kind,)).get_content()
    lines = raw.split(b"\r\n")
    assert raw.endswith(b"\r\n") and all(b"\r" not in x and b"\n" not in x for x in lines)
    assert raw.isascii() and all(len(x) <= 78 for x in lines)
    # A URL too long for a line stays whole on a line of its own (the email package would cut
    # it into RFC 2047 encoded words, which no client reads back as a link).
    url = f"<{BASE}/unsubscribe/{'t' * 100}>"
    assert header_line("List-Unsubscribe", url) == f"List-Unsubscribe:\r\n {url}\r\n".encode()
    with pytest.raises(HeaderInjection):
        header_line("To", "a@b.example\r\nBcc: victim@example.com")
    with pytest.raises(HeaderInjection):
        header_line("X-A\r\nBcc", "v")


def test_a_real_day_renders_in_trending_order(engine, tmp_path: Path):
    """A real Hugging Face day (shared data): TeX in real titles and abstracts, real links."""
    from dailypapers.ingest.files import import_paths
    from tests.conftest import shared

    import_paths(engine, [shared("hf-daily", "2026-03-31.json")])
    period = dc.period_for("daily", dt.date(2026, 3, 31))
    results = period_results(engine, period, set(), None)
    with read_transaction(engine) as conn:
        expected = [e.paper["id"] for e in catalog.entries_in(conn, period.start, period.end)]
    assert len(expected) > 12 and results.trending == expected
    items = build_digest(DigestSpec(trending=True, max_items=12), results, set(), base_url=BASE)
    assert [i.paper_id for i in items] == expected[:12]
    assert [i.reason for i in items] == [f"#{n} trending" for n in range(1, 13)]
    for item in items:
        assert item.title and len(item.abstract) <= dc.ABSTRACT_CHARS + 2
        assert "\\textbf" not in item.title + item.abstract and "\\emph" not in item.abstract
    _subject, text, html = render(items)
    parsed = _Links()
    parsed.feed(html)
    hrefs = [v for _t, n, v in parsed.attrs if n == "href"]
    code = {i.code_url for i in items if i.code_url}
    assert all(h.startswith(BASE + "/") or h in code for h in hrefs)
    assert len([h for h in hrefs if "/papers/" in h]) == 12
